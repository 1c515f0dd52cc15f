"""Is an envelope stale? A newer create/reset or a later delete of its credential supersedes it."""

from __future__ import annotations

import asyncio
from typing import Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import ApplicationRecorder, PersistenceError
from eventsourcing.utils import get_topic

from service.domain.credential import TempStrongPassword
from service.eventstore.queries import with_later_events

from .dedup import DATABASE_ERRORS
from .failures import DependencyUnavailable

# A newer Created or Reset issued another secret; a Deleted made the credential go away.
SUPERSEDING_TOPICS = frozenset(
    get_topic(getattr(TempStrongPassword, name))
    for name in (
        "TempStrongPasswordCreated",
        "TempStrongPasswordReset",
        "TempStrongPasswordDeleted",
    )
)


class SupersessionCheck(Protocol):
    async def superseded(self, credential_id: UUID, version: int) -> bool:
        """True if the credential was reissued or deleted after `version`."""
        ...


class PostgresSupersession(SupersessionCheck):
    """Reads the event store's table directly (asyncpg, no thread hop)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def superseded(self, credential_id: UUID, version: int) -> bool:
        try:
            later = await with_later_events(
                self._pool, [(credential_id, version)], SUPERSEDING_TOPICS
            )
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(
                f"event store lookup failed ({type(exc).__name__})"
            ) from None
        return bool(later)


class RecorderSupersession(SupersessionCheck):
    """Any eventsourcing recorder (dev mode's SQLite store); the recorder is synchronous."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder

    async def superseded(self, credential_id: UUID, version: int) -> bool:
        try:
            events = await asyncio.to_thread(
                self._recorder.select_events, credential_id, gt=version
            )
        except PersistenceError as exc:
            raise DependencyUnavailable(
                f"event store lookup failed ({type(exc).__name__})"
            ) from None
        return any(event.topic in SUPERSEDING_TOPICS for event in events)
