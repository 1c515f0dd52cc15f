"""Is an envelope stale? A newer create/reset or a later delete of its credential supersedes it.

Asked for a whole batch at once, before any envelope is opened: a stale one is never decrypted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import ApplicationRecorder, PersistenceError
from eventsourcing.utils import get_topic

from service.domain.credential import TempStrongPassword
from service.eventstore.queries import with_later_events
from service.postgres.errors import DATABASE_ERRORS

from .failures import DependencyUnavailable

# A newer Created or Reset issued another secret; a Deleted made the credential go away.
_SUPERSEDING = ("TempStrongPasswordCreated", "TempStrongPasswordReset", "TempStrongPasswordDeleted")
SUPERSEDING_TOPICS = frozenset(get_topic(getattr(TempStrongPassword, n)) for n in _SUPERSEDING)

Version = tuple[UUID, int]  # (credential id, the version that issued the secret)


class SupersessionCheck(Protocol):
    async def superseded(self, versions: Sequence[Version]) -> set[Version]:
        """Those of `versions` whose credential was reissued or deleted after them."""
        ...


class PostgresSupersession(SupersessionCheck):
    """One indexed query for the whole batch, through the event store package."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def superseded(self, versions: Sequence[Version]) -> set[Version]:
        try:
            return await with_later_events(self._pool, versions, SUPERSEDING_TOPICS)
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(
                f"event store lookup failed ({type(exc).__name__})"
            ) from None


class RecorderSupersession(SupersessionCheck):
    """Any eventsourcing recorder (dev mode's SQLite store); the recorder is synchronous."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder

    async def superseded(self, versions: Sequence[Version]) -> set[Version]:
        try:
            return await asyncio.to_thread(self._superseded, versions)
        except PersistenceError as exc:
            raise DependencyUnavailable(
                f"event store lookup failed ({type(exc).__name__})"
            ) from None

    def _superseded(self, versions: Sequence[Version]) -> set[Version]:
        return {
            (credential_id, version)
            for credential_id, version in versions
            if any(
                event.topic in SUPERSEDING_TOPICS
                for event in self._recorder.select_events(credential_id, gt=version)
            )
        }
