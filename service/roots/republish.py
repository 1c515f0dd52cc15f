"""`tempstrong republish <event id>`: publishes an event the publisher parked, again."""

from __future__ import annotations

import asyncio
import sys
from uuid import UUID

from projections.publisher.amqp import AmqpTransport
from projections.publisher.republish import RepublishRefused, republish

from ..config import REPUBLISH, Settings
from ..eventstore.application import event_mapper
from ..eventstore.notifications import PostgresNotifications
from ..eventstore.postgres import PostgresStore
from ..postgres.pool import create_pool
from .parts import require_reachable


async def run(database_url: str, amqp_url: str, event_id: UUID, again: bool) -> int:
    pool = await create_pool(database_url, min_size=1, max_size=2, timeout=5)
    notifications = PostgresNotifications(database_url)
    mapper = event_mapper()
    store = PostgresStore(database_url, mapper)
    await store.open()
    transport = AmqpTransport(amqp_url)
    try:
        return await republish(event_id, pool, notifications, store, mapper, transport, again=again)
    finally:
        await transport.close()
        await store.close()
        await notifications.close()
        await pool.close()


def main(settings: Settings, event_id: UUID, again: bool = False) -> int:
    """0 once the parked event is published again; 1 (with the reason, one line) if it is not,
    or if it was republished before and `again` is not given."""
    settings.require(REPUBLISH, "database_url", "amqp_url")
    assert settings.database_url and settings.amqp_url
    require_reachable(REPUBLISH, settings)
    try:
        count = asyncio.run(run(settings.database_url, settings.amqp_url, event_id, again))
    except RepublishRefused as refused:
        print(f"tempstrong republish: {refused}", file=sys.stderr)
        return 1
    print(f"tempstrong republish: event {event_id} published again ({count} messages confirmed)")
    return 0
