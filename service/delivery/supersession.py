"""Is an envelope stale? A newer create/reset or a later delete of its credential supersedes it."""

from __future__ import annotations

import asyncio
from typing import Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import ApplicationRecorder, PersistenceError

from service.persistence import APPLICATION_NAME

from .dedup import DATABASE_ERRORS
from .failures import DependencyUnavailable

EVENTS_TABLE = f"{APPLICATION_NAME}_events"
ISSUING_TOPICS = ("TempStrongPasswordCreated", "TempStrongPasswordReset")
DELETED_TOPIC = "TempStrongPasswordDeleted"

_QUERY = f"""
SELECT
    max(originator_version) FILTER (
        WHERE topic LIKE '%{ISSUING_TOPICS[0]}' OR topic LIKE '%{ISSUING_TOPICS[1]}'
    ) AS latest_issue,
    max(originator_version) FILTER (WHERE topic LIKE '%{DELETED_TOPIC}') AS deleted
FROM {EVENTS_TABLE}
WHERE originator_id = $1 AND originator_version > $2
"""  # noqa: S608 - constants only; the values are bind parameters


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
            row = await self._pool.fetchrow(_QUERY, credential_id, version)
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(
                f"event store lookup failed ({type(exc).__name__})"
            ) from None
        return row is not None and (row["latest_issue"] is not None or row["deleted"] is not None)


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
        return any(is_superseding(event.topic) for event in events)


def is_superseding(topic: str) -> bool:
    return topic.endswith((*ISSUING_TOPICS, DELETED_TOPIC))
