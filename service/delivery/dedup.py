"""The record of delivered message ids (exactly once per channel across redeliveries)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import asyncpg

from service.eventstore.pool import DATABASE_ERRORS, lock_schema

from .failures import DependencyUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_dedup (
    message_id text PRIMARY KEY,
    delivered_at timestamptz NOT NULL DEFAULT now()
)
"""

_LOCK = "SELECT pg_advisory_lock(hashtextextended($1, 7453))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended($1, 7453))"

# Failures of our own database: retry, it is not the message's fault.
__all__ = ["DATABASE_ERRORS", "DedupLedger", "MemoryDedup", "PostgresDedup", "ensure_schema"]


class DedupLedger(Protocol):
    def claim(self, message_id: str) -> AbstractAsyncContextManager[None]:
        """Holds off every other handler of the same message id (any worker) until exit."""
        ...

    async def delivered(self, message_id: str) -> bool: ...

    async def record(self, message_id: str) -> None: ...


async def ensure_schema(pool: asyncpg.Pool) -> None:
    """Idempotent: safe for every worker at every start."""
    async with pool.acquire() as connection, connection.transaction():
        await lock_schema(connection)
        await connection.execute(SCHEMA)


class PostgresDedup(DedupLedger):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def claim(self, message_id: str) -> AsyncIterator[None]:
        # A session advisory lock: two copies of one message (a publisher retry, a redelivery)
        # handled at once by any workers cannot both pass the dedup check and send. A crashed
        # worker's connection ends, and its lock with it.
        try:
            connection = await self._pool.acquire()
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(f"dedup claim failed ({type(exc).__name__})") from None
        # The pool does not reset sessions: whenever the lock may be held but its release is
        # not certain (an error, a cancellation), the connection ends, and the lock with it.
        try:
            try:
                await connection.execute(_LOCK, message_id)
            except BaseException as exc:
                connection.terminate()
                if isinstance(exc, DATABASE_ERRORS):
                    reason = f"dedup claim failed ({type(exc).__name__})"
                    raise DependencyUnavailable(reason) from None
                raise
            try:
                yield
            finally:
                try:
                    await connection.execute(_UNLOCK, message_id)
                except BaseException as exc:
                    connection.terminate()
                    if not isinstance(exc, DATABASE_ERRORS):
                        raise
        finally:
            await self._pool.release(connection)

    async def delivered(self, message_id: str) -> bool:
        try:
            found = await self._pool.fetchval(
                "SELECT 1 FROM delivery_dedup WHERE message_id = $1", message_id
            )
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(f"dedup lookup failed ({type(exc).__name__})") from None
        return found is not None

    async def record(self, message_id: str) -> None:
        try:
            await self._pool.execute(
                "INSERT INTO delivery_dedup (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
                message_id,
            )
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(f"dedup record failed ({type(exc).__name__})") from None


class MemoryDedup(DedupLedger):
    """Dev mode and unit tests: forgets everything when the process ends."""

    def __init__(self) -> None:
        self.message_ids: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def claim(self, message_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(message_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked():
                self._locks.pop(message_id, None)

    async def delivered(self, message_id: str) -> bool:
        return message_id in self.message_ids

    async def record(self, message_id: str) -> None:
        self.message_ids.add(message_id)
