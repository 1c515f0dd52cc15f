"""`tempstrong projector`: follows the event store into the credentials view, and carries out
the erasures whose delay has passed."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from projections.credentials.postgres import PostgresCredentialsView, ensure_schema
from projections.credentials.rows import VIEW_NAME
from projections.follower import Follower, FollowerMetrics

from ..commands.facade import utc_now
from ..config import PROJECTOR, Settings
from ..eventstore.application import event_mapper
from ..eventstore.notifications import PostgresNotifications
from ..eventstore.postgres import PostgresStore
from ..observability.logs import configure_logging
from ..postgres.pool import wait_for_pool
from ..privacy.erasure import Eraser, ErasureMetrics
from .following import run_follower
from .running import log_started, log_stopped, run_until_signalled


async def run(settings: Settings, stop: asyncio.Event) -> None:
    settings.require(PROJECTOR, "database_url")
    assert settings.database_url
    pool = await wait_for_pool(settings.database_url, stop, min_size=1, max_size=3)
    if pool is None:
        return
    source = PostgresNotifications(settings.database_url)
    mapper = event_mapper()
    # erasures append their event to the store like any command
    store = PostgresStore(settings.database_url, mapper)
    await store.open()
    try:
        async with pool.acquire() as connection:
            await ensure_schema(connection)
        registry = CollectorRegistry()
        metrics = FollowerMetrics(registry)
        view = PostgresCredentialsView(pool, mapper)
        follower = Follower(source, view, metrics)
        eraser = Eraser(store, utc_now, ErasureMetrics(registry))
        log_started(PROJECTOR, settings, view=VIEW_NAME)
        await run_follower(
            follower,
            VIEW_NAME,
            pool,
            registry,
            metrics,
            settings.metrics_port,
            stop,
            eraser.run,
        )
    finally:
        await source.close()
        await store.close()
        await pool.close()
        log_stopped(PROJECTOR)


def main(settings: Settings) -> int:
    settings.require(PROJECTOR, "database_url")
    configure_logging()
    return run_until_signalled(lambda stop: run(settings, stop))
