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
from ..observability.logs import configure_logging
from .following import follower_parts, run_follower
from .running import log_started, log_stopped, run_until_signalled, traced


async def run(settings: Settings, stop: asyncio.Event) -> None:
    settings.require(PUBLISHER, "database_url", "amqp_url")
    assert settings.database_url and settings.amqp_url
    async with follower_parts(settings.database_url, stop) as parts:
        if parts is None:
            return
        transport = AmqpTransport(settings.amqp_url)
        try:
            await ensure_schema(parts.pool)
            registry = CollectorRegistry()
            metrics = FollowerMetrics(registry)
            sink = PublisherSink(
                PostgresTracking(parts.pool),
                parts.mapper,
                # earlier versions of a credential (after a restart) come from the store
                CredentialCache(parts.store.get_at, parts.store.get_many_at),
                transport,
                PublisherMetrics(registry),
            )
            follower = Follower(parts.source, sink, metrics)
            log_started(PUBLISHER, settings)
            await run_follower(
                follower, PUBLISHER_NAME, parts.pool, registry, metrics, settings.metrics_port, stop
            )
        finally:
            await transport.close()
            log_stopped(PUBLISHER)


def main(settings: Settings) -> int:
    settings.require(PUBLISHER, "database_url", "amqp_url")
    configure_logging()
    with traced(PUBLISHER):
        return run_until_signalled(lambda stop: run(settings, stop))
