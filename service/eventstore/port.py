"""The port the service commands run against: load aggregates, save their new events.

Two adapters keep one set of commands: `PostgresStore` (postgres.py: asyncpg, group commit, the
production path) and `LibraryStore` (library.py: the eventsourcing Application through a bounded
thread pool; dev mode on SQLite, and the in-memory store of the service-layer tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate


class AggregateStore(Protocol):
    async def get_or_none(self, aggregate_id: UUID) -> Aggregate | None:
        """The current aggregate (a private copy the caller may change), or None."""

    async def get_at(self, aggregate_id: UUID, version: int) -> Aggregate:
        """The aggregate as it was at `version`."""

    async def events_of(self, aggregate_id: UUID) -> Sequence[Any]:
        """All events of the aggregate, oldest first."""

    async def save(self, *aggregates: Aggregate | None) -> None:
        """Stores the pending events of all aggregates in one transaction, or none of them.

        Raises eventsourcing's IntegrityError when another writer got to a version first.
        """

    async def open(self) -> None:
        """Called once the event loop runs (the API's startup)."""

    async def close(self) -> None: ...
