"""Where each follower is in the notification log: the tracking table, defined once.

Every follower (a view, the publisher) has one row `(name, position)`. A view writes its rows and
moves its position in one transaction, so a crash never applies an event twice or skips one; the
publisher moves its position after the broker confirmed a batch. DDL runs under one advisory
lock, so processes starting together never race on CREATE TABLE.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

TRACKING_TABLE = "projection_tracking"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} (name text PRIMARY KEY, position bigint NOT NULL)"
)


# A connection (inside the caller's transaction) or a pool; asyncpg is untyped here.
Executor: TypeAlias = Any


async def ensure_tracking(connection: asyncpg.Connection, name: str) -> None:
    """Inside a transaction that holds the schema lock: the table, and a row at 0 for `name`."""
    await connection.execute(_DDL)
    await connection.execute(
        f"INSERT INTO {TRACKING_TABLE} (name, position) VALUES ($1, 0) "  # noqa: S608
        "ON CONFLICT (name) DO NOTHING",
        name,
    )


async def read_position(executor: Executor, name: str) -> int:
    value = await executor.fetchval(
        f"SELECT position FROM {TRACKING_TABLE} WHERE name = $1",  # noqa: S608
        name,
    )
    return int(value or 0)


async def lock_position(connection: asyncpg.Connection, name: str) -> int:
    """Inside a transaction: the position, locked until commit (one writer per follower)."""
    value = await connection.fetchval(
        f"SELECT position FROM {TRACKING_TABLE} WHERE name = $1 FOR UPDATE",  # noqa: S608
        name,
    )
    return int(value or 0)


async def set_position(executor: Executor, name: str, position: int) -> None:
    await executor.execute(
        f"UPDATE {TRACKING_TABLE} SET position = $2 WHERE name = $1",  # noqa: S608
        name,
        position,
    )


async def advance_position(executor: Executor, name: str, position: int) -> None:
    """Never backwards: a slow writer cannot undo a newer position."""
    await executor.execute(
        f"UPDATE {TRACKING_TABLE} SET position = GREATEST(position, $2) "  # noqa: S608
        "WHERE name = $1",
        name,
        position,
    )


async def forget(executor: Executor, name: str) -> None:
    await executor.execute(f"DELETE FROM {TRACKING_TABLE} WHERE name = $1", name)  # noqa: S608
