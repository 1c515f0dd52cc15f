"""The port the service commands run against: load aggregates, save their new events.

Two adapters keep one set of commands: `PostgresStore` (postgres.py: asyncpg, group commit, the
production path) and `ThreadedStore` (library.py: the eventsourcing Application through a bounded
thread pool; dev mode on SQLite, and the in-memory store of the service-layer tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time; nothing was saved by the call
    that raises it (the API answers 503). Adapters raise it instead of their driver's errors."""


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
        self, *aggregates: Aggregate | None, unchanged: Sequence[Aggregate] = ()
    ) -> None:
        """Stores the pending events of all aggregates in one transaction, or none of them.

        Raises eventsourcing's IntegrityError when another writer got to a version first, or
        when one of the `unchanged` aggregates (read by the command, not changed by it) is no
        longer at the version the command read.
        """

    async def open(self) -> None:
        """Called once the event loop runs (the API's startup)."""

    async def close(self) -> None: ...
