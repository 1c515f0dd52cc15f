"""`tempstrong projector | publisher | rebuild`: wire a follower to its sink and run it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry

from service.config import Settings
from service.eventstore.library import event_mapper
from service.eventstore.notifications import PostgresNotifications
from service.eventstore.pool import DATABASE_ERRORS, create_pool
from service.eventstore.postgres import PostgresStore
from service.processes import serve_health

from .credentials.postgres import PostgresCredentialsView, ensure_schema, rebuild
from .credentials.rows import VIEW_NAME
from .folding import CredentialCache
from .follower import Follower, FollowerMetrics
from .parking import waiting
from .publisher.amqp import AmqpTransport
from .publisher.republish import RepublishRefused, republish
from .publisher.sink import PUBLISHER_NAME, PostgresTracking, PublisherMetrics, PublisherSink
from .publisher.sink import ensure_schema as ensure_publisher_schema

log = logging.getLogger("tempstrong.projections")
REBUILDABLE_VIEWS = (VIEW_NAME,)
PARKED_GAUGE_SECONDS = 15.0


async def _pool(database_url: str) -> asyncpg.Pool:
    """Waits for the database with capped backoff (a process may start before it)."""
    delay = 0.2
    while True:
        try:
            pool: asyncpg.Pool = await create_pool(database_url, min_size=1, max_size=3, timeout=5)
            return pool
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("database not reachable yet", extra={"error": type(exc).__name__})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _run_follower(
    follower: Follower, registry: CollectorRegistry, port: int | None, stop: asyncio.Event
) -> None:
    health = await serve_health(registry, port)
    task = asyncio.create_task(follower.run(stop))
    try:
        await stop.wait()
        await task  # the loop finishes its batch and returns once `stop` is set
    finally:
        if health is not None:
            await health.cleanup()


async def run_projector(settings: Settings, stop: asyncio.Event) -> None:
    settings.require("projector", "database_url")
    assert settings.database_url
    pool = await _pool(settings.database_url)
    source = PostgresNotifications(settings.database_url)
    try:
        async with pool.acquire() as connection:
            await ensure_schema(connection)
        registry = CollectorRegistry()
        view = PostgresCredentialsView(pool, event_mapper())
        metrics = FollowerMetrics(registry)
        follower = Follower(source, view, metrics)
        log.info("projector started", extra={"view": VIEW_NAME})
        gauge = asyncio.create_task(_watch_parked(pool, VIEW_NAME, metrics, stop))
        await _run_follower(follower, registry, settings.metrics_port, stop)
        await gauge
    finally:
        await source.close()
        await pool.close()


async def run_publisher(settings: Settings, stop: asyncio.Event) -> None:
    settings.require("publisher", "database_url", "amqp_url")
    assert settings.database_url and settings.amqp_url
    pool = await _pool(settings.database_url)
    source = PostgresNotifications(settings.database_url)
    mapper = event_mapper()
    store = PostgresStore(settings.database_url, mapper)
    await store.open()
    transport = AmqpTransport(settings.amqp_url)
    try:
        await ensure_publisher_schema(pool)
        registry = CollectorRegistry()
        states = CredentialCache(store.get_at)
        sink = PublisherSink(
            PostgresTracking(pool), mapper, states, transport, PublisherMetrics(registry)
        )
        metrics = FollowerMetrics(registry)
        follower = Follower(source, sink, metrics)
        log.info("publisher started")
        gauge = asyncio.create_task(_watch_parked(pool, PUBLISHER_NAME, metrics, stop))
        await _run_follower(follower, registry, settings.metrics_port, stop)
        await gauge
    finally:
        await transport.close()
        await source.close()
        await pool.close()
        await store.close()


async def _watch_parked(
    pool: asyncpg.Pool, follower: str, metrics: FollowerMetrics, stop: asyncio.Event
) -> None:
    """Keeps the parked-events gauge current (republish and rebuild run in other processes)."""
    while not stop.is_set():
        with contextlib.suppress(*DATABASE_ERRORS):
            metrics.parked_waiting.labels(follower).set(await waiting(pool, follower))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARKED_GAUGE_SECONDS)


async def run_rebuild(settings: Settings, view: str) -> int:
    settings.require("rebuild", "database_url")
    assert settings.database_url
    if view not in REBUILDABLE_VIEWS:
        raise ValueError(f"unknown view {view!r} (known: {', '.join(REBUILDABLE_VIEWS)})")
    pool = await _pool(settings.database_url)
    source = PostgresNotifications(settings.database_url)
    try:
        async with pool.acquire() as connection:
            await ensure_schema(connection)
        return await rebuild(pool, event_mapper(), source.read_after)
    finally:
        await source.close()
        await pool.close()


def run_republish(settings: Settings, event_id: UUID) -> int:
    """0 once the parked event is published again; 1 (with the reason) if it is not."""
    settings.require("republish", "database_url", "amqp_url")
    assert settings.database_url and settings.amqp_url
    try:
        count = asyncio.run(_republish(settings.database_url, settings.amqp_url, event_id))
    except RepublishRefused as refused:
        print(f"tempstrong republish: {refused}", file=sys.stderr)
        return 1
    print(f"tempstrong republish: event {event_id} published again ({count} messages confirmed)")
    return 0


async def _republish(database_url: str, amqp_url: str, event_id: UUID) -> int:
    pool = await create_pool(database_url, min_size=1, max_size=2, timeout=5)
    notifications = PostgresNotifications(database_url)
    mapper = event_mapper()
    store = PostgresStore(database_url, mapper)
    await store.open()
    transport = AmqpTransport(amqp_url)
    try:
        return await republish(event_id, pool, notifications, store, mapper, transport)
    finally:
        await transport.close()
        await store.close()
        await notifications.close()
        await pool.close()
