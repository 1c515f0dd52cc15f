"""Readers of the notification log (every event in commit order), for the followers.

`PostgresNotifications` reads the events table with asyncpg and wakes up on the library's NOTIFY;
`RecorderNotifications` polls any of the library's recorders (SQLite in dev mode has no
subscriptions).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import ApplicationRecorder, Notification

from ..postgres.errors import unavailable_on_driver_errors
from ..postgres.pool import create_pool
from .names import EVENTS_CHANNEL, EVENTS_TABLE


class NotificationSource(Protocol):
    async def read_after(self, position: int, limit: int) -> Sequence[Notification]: ...

    async def wait_for_new(self, seconds: float) -> None: ...

    async def head(self) -> int: ...

    async def reset(self) -> None:
        """After an error: drop what may be broken; the next call starts afresh."""

    async def close(self) -> None: ...


def notification_of(row: asyncpg.Record) -> Notification:
    """A row with the events table's columns notification_id, originator_id,
    originator_version, topic and state."""
    return Notification(
        id=row["notification_id"],
        originator_id=UUID(bytes=row["originator_id"].bytes),
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


class PostgresNotifications:
    """Reads `tempstrong_events` with asyncpg and wakes up on the library's NOTIFY."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._new = asyncio.Event()

    async def _ensure(self) -> asyncpg.Pool:
        if self._listener is None or self._listener.is_closed():
            self._listener = await asyncpg.connect(self._database_url, timeout=5)
            await self._listener.add_listener(EVENTS_CHANNEL, self._notified)
            self._new.set()  # anything may have happened while we were not listening
        if self._pool is None:
            self._pool = await create_pool(self._database_url, min_size=1, max_size=2, timeout=5)
        return self._pool

    def _notified(self, *_: object) -> None:
        self._new.set()

    async def read_after(self, position: int, limit: int) -> Sequence[Notification]:
        with unavailable_on_driver_errors("The event store"):
            rows = await self._select_after(position, limit)
        return [notification_of(row) for row in rows]

    async def _select_after(self, position: int, limit: int) -> list[asyncpg.Record]:
        pool = await self._ensure()
        rows: list[asyncpg.Record] = await pool.fetch(
            f"SELECT notification_id, originator_id, originator_version, topic, state "  # noqa: S608
            f"FROM {EVENTS_TABLE} WHERE notification_id > $1 "
            f"ORDER BY notification_id LIMIT $2",
            position,
            limit,
        )
        return rows

    async def wait_for_new(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._new.wait(), seconds)
        self._new.clear()

    async def head(self) -> int:
        with unavailable_on_driver_errors("The event store"):
            pool = await self._ensure()
            value = await pool.fetchval(f"SELECT max(notification_id) FROM {EVENTS_TABLE}")  # noqa: S608
        return int(value or 0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.terminate()
            self._listener = None
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    async def reset(self) -> None:
        """Drops the connections after an error; the next call reconnects."""
        await self.close()


class RecorderNotifications:
    """Polls any library recorder (SQLite in dev mode, which has no subscriptions)."""

    def __init__(self, recorder: ApplicationRecorder, poll_interval: float = 0.1) -> None:
        self._recorder = recorder
        self._poll_interval = poll_interval
        self.wake = asyncio.Event()

    async def read_after(self, position: int, limit: int) -> Sequence[Notification]:
        return await asyncio.to_thread(self._recorder.select_notifications, position + 1, limit)

    async def wait_for_new(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), min(seconds, self._poll_interval))
        self.wake.clear()

    async def head(self) -> int:
        return await asyncio.to_thread(self._recorder.max_notification_id) or 0

    async def reset(self) -> None:
        return None

    async def close(self) -> None:
        return None
