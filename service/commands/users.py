"""The commands of the user aggregate."""

from __future__ import annotations

from ..domain.user import User
from .aggregates import Aggregates, with_retries
from .outcomes import UserProfile


class UserCommands:
    def __init__(self, aggregates: Aggregates) -> None:
        self._aggregates = aggregates

    async def register(self, client: str, ext_id: str, profile: UserProfile) -> User:
        async def attempt(fresh: bool) -> User:
            user = await self._aggregates.user_or_none(client, ext_id)
            if user is None:
                user = User(client_ext_id=client, ext_id=ext_id, **vars(profile))
            else:
                user.register_again(**vars(profile))
            await self._aggregates.save(user)
            return user

        return await with_retries(attempt)

    async def delete(self, client: str, ext_id: str, actor: str | None) -> None:
        """Deletes the user and its credential, in one save."""

        async def attempt(fresh: bool) -> None:
            # both are saved: a stale copy of either fails the save, and the retry reads fresh
            user = await self._aggregates.user(client, ext_id, fresh)
            credential = await self._aggregates.credential_of(user, fresh)
            if credential is not None:
                credential.delete(actor=actor)
            user.delete()
            await self._aggregates.save(user, credential)

        await with_retries(attempt)
