"""asyncpg pools as every tempstrong process opens them.

- No per-release session reset: by default asyncpg resets every connection it takes back
  (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`), one more round trip per
  query, a tenth of the API's CPU per reset. These pools never leave session state behind (no
  LISTEN, no session SET, no cursors; advisory locks are released or their connection terminated
  by their holder), so the reset is skipped. asyncpg still rolls back a transaction left open.
- `idle_in_transaction_session_timeout` as the eventsourcing library sets it on its own
  connections (5 s): a process that stalls inside a transaction (the group commit holds the
  events table's lock in one) cannot hold the lock for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from .errors import DATABASE_ERRORS, why_unreachable

IDLE_IN_TRANSACTION_SECONDS = 5  # the library's POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT
RECONNECT_CAP_SECONDS = 5.0
CONNECT_CHECK_SECONDS = 5.0

log = logging.getLogger("tempstrong.eventstore")


async def _keep_session(_: asyncpg.Connection) -> None:
    return None


async def create_pool(database_url: str, **options: Any) -> asyncpg.Pool:
    settings = {
        "idle_in_transaction_session_timeout": f"{IDLE_IN_TRANSACTION_SECONDS * 1000}",
        **options.pop("server_settings", {}),
    }
    pool: asyncpg.Pool = await asyncpg.create_pool(
        database_url, reset=_keep_session, server_settings=settings, **options
    )
    return pool


async def wait_for_pool(
    database_url: str, stop: asyncio.Event | None = None, **options: Any
) -> asyncpg.Pool | None:
    """A pool once PostgreSQL answers (a process may start before it), retrying with backoff
    capped at 5 s; None if `stop` is set first."""
    pause = 0.2
    while stop is None or not stop.is_set():
        try:
            return await create_pool(database_url, **{"timeout": 5, **options})
        except DATABASE_ERRORS as exc:
            log.warning(
                "PostgreSQL not reachable, retrying",
                extra={"reason": why_unreachable(exc, database_url), "retry_in": pause},
            )
        if stop is None:
            await asyncio.sleep(pause)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
        pause = min(pause * 2, RECONNECT_CAP_SECONDS)
    return None


async def check_reachable(database_url: str) -> str | None:
    """None when the database answers; else why not, in words (for a one-line refusal)."""
    try:
        connection = await asyncpg.connect(database_url, timeout=CONNECT_CHECK_SECONDS)
    except DATABASE_ERRORS as exc:
        return why_unreachable(exc, database_url)
    await connection.close()
    return None
