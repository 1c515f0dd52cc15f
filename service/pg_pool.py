"""asyncpg pools without the per-release session reset.

By default asyncpg resets every connection it takes back (`SELECT pg_advisory_unlock_all();
CLOSE ALL; UNLISTEN *; RESET ALL`): one more round trip per query, a tenth of the API's CPU per
reset. These pools never leave session state behind (no LISTEN, no session SET, no cursors;
advisory locks are released or their connection terminated by their holder), so the reset is
skipped. asyncpg still rolls back a transaction left open and drops listeners on release.
"""

from __future__ import annotations

from typing import Any

import asyncpg

# What a lost, refused or timed-out database call raises through asyncpg. A connection that a
# server terminates mid-protocol can also surface as asyncpg's InternalClientError family.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


async def _keep_session(_: asyncpg.Connection) -> None:
    return None


async def create_pool(database_url: str, **options: Any) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(database_url, reset=_keep_session, **options)
    return pool
