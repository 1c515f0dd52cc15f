"""Loading and saving aggregates through the event store's port, and the retry on conflict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from ..domain.catalog import PolicyCatalog
from ..domain.credential import TempStrongPassword
from ..domain.errors import Conflict, DomainError, NotFound
from ..domain.user import User
from ..eventstore.port import NO_KEY_CHANGES, AggregateStore, KeyChanges

MAX_ATTEMPTS = 8

T = TypeVar("T")


class Aggregates:
    def __init__(self, store: AggregateStore, catalog: PolicyCatalog) -> None:
        self.store = store
        self.catalog = catalog

    async def user_or_none(self, client: str, ext_id: str, fresh: bool = True) -> User | None:
        """The user aggregate, deleted or not; 404 for a client the policy file does not know.

        `fresh=False` (a command's first attempt) may use the store's copy without a round
        trip; the command then saves the user, or passes it as `unchanged`, so a stale copy
        fails the save and the retry reads fresh.
        """
        self.catalog.require_client(client)
        user = await self.store.get_or_none(User.create_id(client, ext_id), fresh=fresh)
        return user if isinstance(user, User) else None

    async def user(self, client: str, ext_id: str, fresh: bool = True) -> User:
        user = await self.user_or_none(client, ext_id, fresh)
        if user is None or user.deleted:
            raise NotFound(f"User {ext_id!r} does not exist.")
        return user

    async def credential_of(self, user: User, fresh: bool = True) -> TempStrongPassword | None:
        if user.credential_id is None:
            return None
        credential = await self.store.get_or_none(user.credential_id, fresh=fresh)
        if not isinstance(credential, TempStrongPassword) or credential.deleted:
            return None
        return credential

    async def user_and_credential(
        self, client: str, user_ext_id: str, fresh: bool = True
    ) -> tuple[User, TempStrongPassword]:
        user = await self.user(client, user_ext_id, fresh)
        credential = await self.credential_of(user, fresh)
        if credential is None:
            raise NotFound(f"User {user_ext_id!r} has no TSP credential.")
        return user, credential

    async def exists(self, aggregate_id: UUID) -> bool:
        return await self.store.get_or_none(aggregate_id) is not None

    async def credential_at(self, credential_id: UUID, version: int) -> TempStrongPassword:
        credential = await self.store.get_at(credential_id, version)
        assert isinstance(credential, TempStrongPassword)
        return credential

    async def events_of(self, aggregate_id: UUID) -> Sequence[Any]:
        return await self.store.events_of(aggregate_id)

    async def save(
        self,
        *aggregates: Aggregate | None,
        unchanged: Sequence[Aggregate] = (),
        keys: KeyChanges = NO_KEY_CHANGES,
    ) -> None:
        # the store refuses to start a save past the request's deadline (a 503 commits nothing)
        await self.store.save(*aggregates, unchanged=unchanged, keys=keys)


async def with_retries(attempt: Callable[[bool], Awaitable[T]]) -> T:
    """Runs `attempt(fresh)` again while another writer takes a version it read (bounded: 409).

    The first attempt may trust the store's copies (`fresh=False`); every retry reads fresh. A
    save checks what a trusting attempt read, but a refusal saves nothing: one decided on
    copies that may be stale is decided again on fresh ones before the caller hears it.
    """
    for number in range(MAX_ATTEMPTS):
        fresh = number > 0
        try:
            return await attempt(fresh)
        except IntegrityError:
            continue
        except DomainError:
            if fresh:
                raise
    raise Conflict("Too many concurrent changes; try again.")
