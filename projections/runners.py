"""`tempstrong projector | publisher | rebuild`: wire a follower to its sink and run it."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from prometheus_client import CollectorRegistry

from service.config import Settings
from service.persistence import EventStoreApp, event_mapper, postgres_env
from service.pg_pool import create_pool
from service.processes import serve_health

from .amqp_transport import AmqpTransport
from .credential_states import CredentialCache
from .credentials import VIEW_NAME
from .credentials_pg import PostgresCredentialsView, ensure_schema, rebuild
from .follower import Follower, FollowerMetrics, PostgresNotifications
from .publisher import PostgresTracking, PublisherMetrics, PublisherSink

log = logging.getLogger("tempstrong.projections")
REBUILDABLE_VIEWS = (VIEW_NAME,)


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
        follower = Follower(source, view, FollowerMetrics(registry))
        log.info("projector started", extra={"view": VIEW_NAME})
        await _run_follower(follower, registry, settings.metrics_port, stop)
    finally:
        await source.close()
        await pool.close()


async def run_publisher(settings: Settings, stop: asyncio.Event) -> None:
    settings.require("publisher", "database_url", "amqp_url")
    assert settings.database_url and settings.amqp_url
    pool = await _pool(settings.database_url)
    source = PostgresNotifications(settings.database_url)
    store = await asyncio.to_thread(
        EventStoreApp, env=postgres_env(settings.database_url, create_table=False)
    )
    transport = AmqpTransport(settings.amqp_url)
    try:
        tracking = PostgresTracking(pool)
        await tracking.ensure()
        registry = CollectorRegistry()
        states = CredentialCache(lambda i, v: store.repository.get(i, version=v))
        sink = PublisherSink(tracking, store.mapper, states, transport, PublisherMetrics(registry))
        follower = Follower(source, sink, FollowerMetrics(registry))
        log.info("publisher started")
        await _run_follower(follower, registry, settings.metrics_port, stop)
    finally:
        await transport.close()
        await source.close()
        await pool.close()
        await asyncio.to_thread(store.close)


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
