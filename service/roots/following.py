"""What the projector and the publisher share as processes: a follower, its health endpoint,
and the parked-events gauge kept current (republish and rebuild run in other processes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper
from prometheus_client import CollectorRegistry

from projections.follower import Follower, FollowerMetrics
from projections.parking import waiting

from ..eventstore.application import event_mapper
from ..eventstore.notifications import PostgresNotifications
from ..eventstore.postgres import PostgresStore
from ..postgres.errors import DATABASE_ERRORS
from ..postgres.pool import wait_for_pool
from .running import serve_health

PARKED_GAUGE_SECONDS = 15.0


@dataclass(frozen=True)
class FollowerParts:
    pool: asyncpg.Pool
    source: PostgresNotifications  # the log the follower reads
    mapper: Mapper[UUID]
    store: PostgresStore  # aggregates, for what the log's events alone do not say


@asynccontextmanager
async def follower_parts(
    database_url: str, stop: asyncio.Event
) -> AsyncIterator[FollowerParts | None]:
    """What a follower process opens first, once PostgreSQL answers (None: stopped before),
    and closes last."""
    pool = await wait_for_pool(database_url, stop, min_size=1, max_size=3)
    if pool is None:
        yield None
        return
    source = PostgresNotifications(database_url)
    mapper = event_mapper()
    store = PostgresStore(database_url, mapper)
    await store.open()
    try:
        yield FollowerParts(pool, source, mapper, store)
    finally:
        await source.close()
        await store.close()
        await pool.close()


async def run_follower(
    follower: Follower,
    name: str,
    pool: asyncpg.Pool,
    registry: CollectorRegistry,
    metrics: FollowerMetrics,
    metrics_port: int | None,
    stop: asyncio.Event,
    *also: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> None:
    """Runs the follower (and `also`, other loops of the process) until `stop`."""
    health = await serve_health(registry, metrics_port)
    tasks = [
        asyncio.create_task(follower.run(stop)),
        asyncio.create_task(_watch_parked(pool, name, metrics, stop)),
        *(asyncio.create_task(loop(stop)) for loop in also),
    ]
    try:
        await stop.wait()
        await asyncio.gather(*tasks)  # the loop finishes its batch and returns once stopped
    finally:
        if health is not None:
            await health.cleanup()


async def _watch_parked(
    pool: asyncpg.Pool, follower: str, metrics: FollowerMetrics, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with contextlib.suppress(*DATABASE_ERRORS):
            metrics.parked_waiting.labels(follower).set(await waiting(pool, follower))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARKED_GAUGE_SECONDS)
