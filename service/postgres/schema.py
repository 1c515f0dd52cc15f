"""Schema changes made by several processes at once, serialized."""

from __future__ import annotations

import asyncpg

SCHEMA_LOCK_KEY = 7453001  # the advisory lock every schema change of tempstrong's takes


async def lock_schema(connection: asyncpg.Connection) -> None:
    """Inside a transaction: serializes the DDL of every tempstrong process (several may start at
    once and race on CREATE ... IF NOT EXISTS)."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
