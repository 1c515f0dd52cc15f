"""`tempstrong migrate`: every schema in the database, and the AMQP topology (safe to repeat)."""

from __future__ import annotations

import asyncio

from projections.credentials.postgres import ensure_schema as ensure_view_schema
from projections.publisher.sink import ensure_schema as ensure_publisher_schema

from ..config import MIGRATE, Settings
from ..delivery.dedup import ensure_schema as ensure_dedup_schema
from ..eventstore.application import EventStoreApp, postgres_env
from ..postgres.pool import create_pool
from ..rabbitmq.topology import declare_topology_at


async def _read_side(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1, timeout=10)
    try:
        async with pool.acquire() as connection:
            await ensure_view_schema(connection)
        await ensure_publisher_schema(pool)
        await ensure_dedup_schema(pool)
    finally:
        await pool.close()


def main(settings: Settings) -> int:
    settings.require(MIGRATE, "database_url")
    assert settings.database_url
    # the library creates its own tables: its schema is the event store's schema
    EventStoreApp(env=postgres_env(settings.database_url, create_table=True)).close()
    asyncio.run(_read_side(settings.database_url))
    print("tempstrong migrate: event store, read model and delivery schemas are in place")
    if settings.amqp_url is not None:
        asyncio.run(declare_topology_at(settings.amqp_url))
        print("tempstrong migrate: AMQP topology is declared")
    else:
        print("tempstrong migrate: TEMPSTRONG_AMQP_URL unset, AMQP topology not declared")
    return 0
