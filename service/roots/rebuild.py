"""`tempstrong rebuild <view>`: replays a view from the start into a fresh table, swaps it in."""

from __future__ import annotations

import asyncio

from projections.credentials.postgres import ensure_schema, rebuild
from projections.credentials.rows import VIEW_NAME

from ..config import REBUILD, ConfigError, Settings
from ..eventstore.application import event_mapper
from ..eventstore.notifications import PostgresNotifications
from ..postgres.pool import wait_for_pool
from .parts import require_reachable
from .progress import Progress

REBUILDABLE_VIEWS = (VIEW_NAME,)


async def run(settings: Settings, view: str) -> int:
    assert settings.database_url
    pool = await wait_for_pool(settings.database_url, min_size=1, max_size=3)
    assert pool is not None
    source = PostgresNotifications(settings.database_url)
    try:
        async with pool.acquire() as connection:
            await ensure_schema(connection)
        progress = Progress(f"rebuild {view}", "events", await source.head())
        try:
            return await rebuild(
                pool,
                event_mapper(),
                source.read_after,
                lambda replayed, _: progress.reach(replayed),
            )
        finally:
            progress.close()
    finally:
        await source.close()
        await pool.close()


def main(settings: Settings, view: str) -> int:
    settings.require(REBUILD, "database_url")
    if view not in REBUILDABLE_VIEWS:
        raise ConfigError(f"tempstrong rebuild: unknown view {view!r}")
    require_reachable(REBUILD, settings)
    replayed = asyncio.run(run(settings, view))
    print(f"tempstrong rebuild: {view} rebuilt from {replayed} events and swapped in")
    return 0
