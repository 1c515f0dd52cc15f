"""The port the service commands run against: load aggregates, save their new events, and keep the
data keys that open the personal fields of those events.

Two adapters keep one set of commands: `PostgresStore` (postgres.py: asyncpg, group commit, the
production path) and `ThreadedStore` (threaded.py: the eventsourcing Application through a
bounded thread pool; dev mode on SQLite, and the in-memory store of the service-layer tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from ..privacy.keyring import WrappedKey


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time; nothing was saved by the call
    that raises it (the API answers 503). Adapters raise it instead of their driver's errors."""


@dataclass(frozen=True)
class KeyChanges:
    """What a save does to the data keys, in the same transaction as its events where the adapter
    can (PostgreSQL): a new person's key, an erasure scheduled, keys destroyed (erased)."""

    new: Sequence[WrappedKey] = ()
    erase_after: Sequence[tuple[UUID, datetime]] = ()  # (data key id, when it is due)
    destroy: Sequence[UUID] = ()  # data key ids

    def __bool__(self) -> bool:
        return bool(self.new or self.erase_after or self.destroy)


NO_KEY_CHANGES = KeyChanges()


@dataclass(frozen=True)
class DueErasure:
    subject_id: UUID  # the user aggregate
    key_id: UUID


class AggregateStore(Protocol):
    async def get_or_none(self, aggregate_id: UUID, *, fresh: bool = True) -> Aggregate | None:
        """The current aggregate (a private copy the caller may change), or None.

        `fresh=False` lets a command trust a copy the store holds from earlier (no round trip):
        its save then fails with IntegrityError if another writer moved on meanwhile, and the
        command retries with fresh reads. Queries always read fresh: a GET reflects every
        acknowledged write.
        """

    async def get_at(self, aggregate_id: UUID, version: int) -> Aggregate:
        """The aggregate as it was at `version`."""

    async def events_of(self, aggregate_id: UUID) -> Sequence[Any]:
        """All events of the aggregate, oldest first."""

    async def save(
        self,
        *aggregates: Aggregate | None,
        unchanged: Sequence[Aggregate] = (),
        keys: KeyChanges = NO_KEY_CHANGES,
    ) -> None:
        """Stores the pending events of all aggregates in one transaction, or none of them, with
        the key changes.

        Raises eventsourcing's IntegrityError when another writer got to a version first, or
        when one of the `unchanged` aggregates (read by the command, not changed by it) is no
        longer at the version the command read.
        """

    async def data_key(self, subject_id: UUID, key_id: UUID) -> WrappedKey | None:
        """The subject's data key `key_id`, wrapped; None once it was destroyed. The keys of a
        user travel with the user aggregate's read: after `get_or_none` of the subject this
        costs no round trip."""

    async def data_keys(self, subject_id: UUID) -> Sequence[WrappedKey]:
        """Every data key the subject still has (present and earlier registrations), read
        fresh."""

    async def due_erasures(self, now: datetime, limit: int) -> Sequence[DueErasure]:
        """Keys whose scheduled erasure is due, oldest first."""

    async def open(self) -> None:
        """Called once the event loop runs (the API's startup)."""

    async def close(self) -> None: ...
