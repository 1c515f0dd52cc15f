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
from ..observability.logs import configure_logging
from ..privacy.erasure import Eraser, ErasureMetrics
from .following import follower_parts, run_follower
from .running import log_started, log_stopped, run_until_signalled


async def run(settings: Settings, stop: asyncio.Event) -> None:
    settings.require(PROJECTOR, "database_url")
    assert settings.database_url
    async with follower_parts(settings.database_url, stop) as parts:
        if parts is None:
            return
        try:
            async with parts.pool.acquire() as connection:
                await ensure_schema(connection)
            registry = CollectorRegistry()
            metrics = FollowerMetrics(registry)
            view = PostgresCredentialsView(parts.pool, parts.mapper)
            follower = Follower(parts.source, view, metrics)
            # erasures append their event to the store like any command
            eraser = Eraser(parts.store, utc_now, ErasureMetrics(registry))
            log_started(PROJECTOR, settings, view=VIEW_NAME)
            await run_follower(
                follower,
                VIEW_NAME,
                parts.pool,
                registry,
                metrics,
                settings.metrics_port,
                stop,
                eraser.run,
            )
        finally:
            log_stopped(PROJECTOR)


def main(settings: Settings) -> int:
    settings.require(PROJECTOR, "database_url")
    configure_logging()
    return run_until_signalled(lambda stop: run(settings, stop))
