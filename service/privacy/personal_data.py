"""What the service layer does with personal data: a new person gets a key, their values are
sealed to it, and revealed only with the key the user aggregate names as live."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from ..domain.personal import Encrypted, PersonalValue
from ..domain.user import User
from ..eventstore.port import AggregateStore, StoreUnavailable
from .data_keys import CannotOpen, DataKey
from .keyring import Keyring, UnwrapError, WrappedKey

UNWRAPPED_CACHE_SIZE = 5000

log = logging.getLogger("tempstrong.privacy")


def new_data_key(keyring: Keyring, subject_id: UUID) -> tuple[DataKey, WrappedKey]:
    """A new person's key, and how it is stored: wrapped by the keyring's first key."""
    key = DataKey.new()
    return key, keyring.wrap(key.key_id, subject_id, key.secret)


@dataclass(frozen=True)
class SealedProfile:
    login_id: Encrypted | None
    email: Encrypted | None
    mobile: Encrypted | None


class Revealer:
    """Opens one person's values with their live data key; once the key is gone (erased), or for
    a value sealed to another key, a value reveals as absent."""

    def __init__(self, key: DataKey | None) -> None:
        self._key = key

    def reveal(self, value: PersonalValue, aggregate_id: UUID, name: str) -> str | None:
        if value is None or isinstance(value, str):
            return value  # nothing, or plaintext stored before `tempstrong migrate`
        if self._key is None or value.key_id != self._key.key_id:
            return None
        try:
            return self._key.open(value, aggregate_id, name)
        except CannotOpen:
            log.error("a personal value does not open", extra={"aggregate_id": str(aggregate_id)})
            return None


NOTHING = Revealer(None)


class PersonalData:
    def __init__(self, keyring: Keyring, store: AggregateStore) -> None:
        self.keyring = keyring
        self._store = store
        self._unwrapped: OrderedDict[UUID, DataKey] = OrderedDict()

    @staticmethod
    def seal_profile(
        key: DataKey, user_id: UUID, login_id: str | None, email: str | None, mobile: str | None
    ) -> SealedProfile:
        def sealed(value: str | None, name: str) -> Encrypted | None:
            return None if value is None else key.seal(value, user_id, name)

        return SealedProfile(
            sealed(login_id, "login_id"), sealed(email, "email"), sealed(mobile, "mobile")
        )

    async def live_key(self, user: User) -> DataKey | None:
        """The key the user aggregate names as live (None once erased, or for a user stored
        before keys existed). The store read it with the user: no round trip."""
        key_id = user.data_key_id
        if key_id is None:
            return None
        cached = self._unwrapped.get(key_id)
        if cached is not None:
            self._unwrapped.move_to_end(key_id)
            return cached
        wrapped = await self._store.data_key(user.id, key_id)
        if wrapped is None:
            return None
        key = DataKey(key_id, self.unwrap(wrapped))
        self._unwrapped[key_id] = key
        while len(self._unwrapped) > UNWRAPPED_CACHE_SIZE:
            self._unwrapped.popitem(last=False)
        return key

    async def revealer(self, user: User) -> Revealer:
        return Revealer(await self.live_key(user))

    def forget(self, key_ids: list[UUID]) -> None:
        """Drops erased keys from memory."""
        for key_id in key_ids:
            self._unwrapped.pop(key_id, None)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        try:
            return self.keyring.unwrap(wrapped)
        except UnwrapError as exc:
            # the ring lost the key that wrapped it: an operator's mistake, not the caller's
            log.error("a data key does not unwrap", extra={"reason": str(exc)})
            raise StoreUnavailable(
                "A data key does not unwrap with TEMPSTRONG_PERSONAL_DATA_KEYS."
            ) from None
