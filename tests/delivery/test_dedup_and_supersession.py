"""The dedup table and the supersession check on a real PostgreSQL database."""

from __future__ import annotations

import asyncpg
import pytest

from service.delivery.dedup import PostgresDedup, ensure_schema
from service.delivery.failures import DependencyUnavailable
from service.delivery.supersession import PostgresSupersession, RecorderSupersession
from service.domain.credential import TempStrongPassword
from service.eventstore.library import EventStoreApp
from tests.delivery.envelopes import CLIENT, unique
from tests.delivery.events import credential_with
from tests.support.database import create_database, drop_database, url_for


async def test_ensure_schema_is_idempotent(pool: asyncpg.Pool) -> None:
    await ensure_schema(pool)
    await ensure_schema(pool)
    columns = await pool.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'delivery_dedup' ORDER BY ordinal_position"
    )
    assert [tuple(c) for c in columns] == [
        ("message_id", "text"),
        ("delivered_at", "timestamp with time zone"),
    ]


async def test_dedup_records_each_message_id_once(pool: asyncpg.Pool) -> None:
    dedup = PostgresDedup(pool)
    message_id = f"{unique('cred')}:1"
    assert not await dedup.delivered(message_id)
    await dedup.record(message_id)
    await dedup.record(message_id)
    assert await dedup.delivered(message_id)
    assert not await dedup.delivered(message_id.replace(":1", ":2"))


@pytest.mark.parametrize("check", ["postgres", "recorder"])
async def test_a_later_reset_or_delete_supersedes(
    pool: asyncpg.Pool, event_store: EventStoreApp, check: str
) -> None:
    supersession = (
        PostgresSupersession(pool)
        if check == "postgres"
        else RecorderSupersession(event_store.recorder)
    )
    reset_twice = TempStrongPassword.create_id(CLIENT, await credential_with(event_store, resets=2))
    assert await supersession.superseded(reset_twice, 1)
    assert await supersession.superseded(reset_twice, 2)
    assert not await supersession.superseded(reset_twice, 3)

    deleted = TempStrongPassword.create_id(CLIENT, await credential_with(event_store, delete=True))
    assert await supersession.superseded(deleted, 1)

    unknown = TempStrongPassword.create_id(CLIENT, unique("cred"))
    assert not await supersession.superseded(unknown, 1)


async def test_a_missing_event_store_is_a_dependency_outage() -> None:
    empty = await create_database(prefix="tempstrong_delivery_empty")
    other = await asyncpg.create_pool(url_for(empty), min_size=1, max_size=1)
    try:
        credential = TempStrongPassword.create_id(CLIENT, "x")
        with pytest.raises(DependencyUnavailable):
            await PostgresSupersession(other).superseded(credential, 1)
        with pytest.raises(DependencyUnavailable):
            await PostgresDedup(other).delivered("x:1")
    finally:
        await other.close()
        await drop_database(empty)
    with pytest.raises(DependencyUnavailable):
        await PostgresDedup(other).record("x:1")
