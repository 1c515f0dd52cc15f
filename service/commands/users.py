"""The commands of the user aggregate: register (a new person, a new data key) and delete
(erasing the person's data at once, or when the erasure delay has passed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ..domain.user import User
from ..eventstore.port import KeyChanges
from ..privacy.data_keys import DataKey
from ..privacy.keyring import Keyring, WrappedKey
from ..privacy.personal_data import PersonalData, Revealer, new_data_key
from .aggregates import Aggregates, with_retries
from .outcomes import UserProfile, UserView

ERASED_ON_DELETE = "deleted"  # the reason recorded when a deletion erases at once


def sealed_user_values(
    keyring: Keyring, user_id: UUID, profile: UserProfile
) -> tuple[DataKey, WrappedKey, dict[str, Any]]:
    """A new person's data key, the key as it is stored (wrapped), and the user's values with
    the personal ones sealed to the key."""
    key, wrapped = new_data_key(keyring, user_id)
    sealed = PersonalData.seal_profile(
        key, user_id, profile.login_id, profile.email, profile.mobile
    )
    return key, wrapped, {**vars(sealed), "language": profile.language, "data_key_id": key.key_id}


class UserCommands:
    def __init__(
        self,
        aggregates: Aggregates,
        personal: PersonalData,
        erasure_delay: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._aggregates = aggregates
        self._personal = personal
        self._erasure_delay = erasure_delay
        self._clock = clock

    async def register(self, client: str, ext_id: str, profile: UserProfile) -> UserView:
        """A new person (or a deleted user's extId again, as a new person): a data key of
        their own, and their values sealed to it."""

        async def attempt(fresh: bool) -> UserView:
            user = await self._aggregates.user_or_none(client, ext_id)
            user_id = User.create_id(client, ext_id)
            key, wrapped, values = sealed_user_values(self._personal.keyring, user_id, profile)
            if user is None:
                user = User(client_ext_id=client, ext_id=ext_id, **values)
            else:
                user.register_again(**values)
            await self._aggregates.save(user, keys=KeyChanges(new=[wrapped]))
            return UserView(user, Revealer(key))

        return await with_retries(attempt)

    async def delete(self, client: str, ext_id: str, actor: str | None) -> None:
        """Deletes the user and its credential, in one save; the person's data is erased in the
        same save (no erasure delay) or scheduled for when the delay has passed."""

        async def attempt(fresh: bool) -> None:
            # both are saved: a stale copy of either fails the save, and the retry reads fresh
            user = await self._aggregates.user(client, ext_id, fresh)
            credential = await self._aggregates.credential_of(user, fresh)
            if credential is not None:
                credential.delete(actor=actor)
            key_id = user.data_key_id
            user.delete()
            keys = KeyChanges()
            if key_id is not None and self._erasure_delay:
                keys = KeyChanges(erase_after=[(key_id, self._clock() + self._erasure_delay)])
            elif key_id is not None:
                user.erase([key_id], actor=actor, reason=ERASED_ON_DELETE)
                keys = KeyChanges(destroy=[key_id])
            await self._aggregates.save(user, credential, keys=keys)
            self._personal.forget(list(keys.destroy))

        await with_retries(attempt)
