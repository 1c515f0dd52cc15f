"""The record of delivered message ids (exactly once per channel across redeliveries)."""

from __future__ import annotations

from typing import Protocol

import asyncpg

from .failures import DependencyUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_dedup (
    message_id text PRIMARY KEY,
    delivered_at timestamptz NOT NULL DEFAULT now()
)
"""

# Failures of our own database: retry, it is not the message's fault.
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class DedupLedger(Protocol):
    async def delivered(self, message_id: str) -> bool: ...

    async def record(self, message_id: str) -> None: ...


async def ensure_schema(pool: asyncpg.Pool) -> None:
    """Idempotent: safe for every worker at every start."""
    # Two workers starting together may race on CREATE TABLE IF NOT EXISTS; the lock orders them.
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext('delivery_dedup'))")
        await connection.execute(SCHEMA)


class PostgresDedup(DedupLedger):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

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

    async def delivered(self, message_id: str) -> bool:
        return message_id in self.message_ids

    async def record(self, message_id: str) -> None:
        self.message_ids.add(message_id)
