"""`tempstrong publisher`: follows the event store onto RabbitMQ (CloudEvents, envelopes)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from projections.folding import CredentialCache
from projections.follower import Follower, FollowerMetrics
from projections.publisher.amqp import AmqpTransport
from projections.publisher.sink import (
    PUBLISHER_NAME,
    PostgresTracking,
    PublisherMetrics,
    PublisherSink,
    ensure_schema,
)

from ..config import PUBLISHER, Settings
from ..eventstore.application import event_mapper
from ..eventstore.notifications import PostgresNotifications
from ..eventstore.postgres import PostgresStore
from ..observability.logs import configure_logging
from ..postgres.pool import wait_for_pool
from .following import run_follower
from .running import log_started, log_stopped, run_until_signalled, traced


async def run(settings: Settings, stop: asyncio.Event) -> None:
    settings.require(PUBLISHER, "database_url", "amqp_url")
    assert settings.database_url and settings.amqp_url
    pool = await wait_for_pool(settings.database_url, stop, min_size=1, max_size=3)
    if pool is None:
        return
    source = PostgresNotifications(settings.database_url)
    mapper = event_mapper()
    # earlier versions of a credential (after a restart) come from the same asyncpg store
    store = PostgresStore(settings.database_url, mapper)
    await store.open()
    transport = AmqpTransport(settings.amqp_url)
    try:
        await ensure_schema(pool)
        registry = CollectorRegistry()
        metrics = FollowerMetrics(registry)
        sink = PublisherSink(
            PostgresTracking(pool),
            mapper,
            CredentialCache(store.get_at, store.get_many_at),
            transport,
            PublisherMetrics(registry),
        )
        follower = Follower(source, sink, metrics)
        log_started(PUBLISHER, settings)
        await run_follower(
            follower, PUBLISHER_NAME, pool, registry, metrics, settings.metrics_port, stop
        )
    finally:
        await transport.close()
        await source.close()
        await store.close()
        await pool.close()
        log_stopped(PUBLISHER)


def main(settings: Settings) -> int:
    settings.require(PUBLISHER, "database_url", "amqp_url")
    configure_logging()
    with traced(PUBLISHER):
        return run_until_signalled(lambda stop: run(settings, stop))
