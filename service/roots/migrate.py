"""`tempstrong migrate`: every schema in the database, and the AMQP topology (safe to repeat)."""

from __future__ import annotations

import asyncio

from projections.credentials.postgres import ensure_schema as ensure_view_schema
from projections.credentials.rows import VIEW_NAME
from projections.publisher.sink import ensure_schema as ensure_publisher_schema

from ..config import MIGRATE, ConfigError, Settings
from ..delivery.dedup import ensure_schema as ensure_dedup_schema
from ..eventstore.application import EventStoreApp, event_mapper, postgres_env
from ..eventstore.legacy import KeyringNeeded, convert_legacy, describe
from ..postgres.pool import create_pool
from ..privacy.keyring import Keyring
from ..rabbitmq.topology import declare_topology_at
from .parts import build_keyring, require_reachable


async def _read_side(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1, timeout=10)
    try:
        async with pool.acquire() as connection:
            await ensure_view_schema(connection)
        await ensure_publisher_schema(pool)
        await ensure_dedup_schema(pool)
    finally:
        await pool.close()


async def _personal_data(settings: Settings, keyring: Keyring | None) -> list[str]:
    """Seals what a store written before 2026-12-06 holds in the clear (legacy.py)."""
    assert settings.database_url
    pool = await create_pool(settings.database_url, min_size=1, max_size=2, timeout=10)
    try:
        report = await convert_legacy(
            pool, event_mapper(), keyring, settings.erasure_delay, VIEW_NAME
        )
    except KeyringNeeded as exc:
        raise ConfigError(
            f"tempstrong migrate: {exc}: set TEMPSTRONG_PERSONAL_DATA_KEYS to seal it"
        ) from None
    finally:
        await pool.close()
    return describe(report)


def main(settings: Settings) -> int:
    settings.require(MIGRATE, "database_url")
    assert settings.database_url
    # the library creates its own tables: its schema is the event store's schema
    require_reachable(MIGRATE, settings)
    keyring = build_keyring(settings) if settings.personal_data_keys else None
    EventStoreApp(env=postgres_env(settings.database_url, create_table=True)).close()
    asyncio.run(_read_side(settings.database_url))
    print("tempstrong migrate: event store, read model and delivery schemas are in place")
    for line in asyncio.run(_personal_data(settings, keyring)):
        print(f"tempstrong migrate: {line}")
    if settings.amqp_url is not None:
        asyncio.run(declare_topology_at(settings.amqp_url))
        print("tempstrong migrate: AMQP topology is declared")
    else:
        print("tempstrong migrate: TEMPSTRONG_AMQP_URL unset, AMQP topology not declared")
    return 0
