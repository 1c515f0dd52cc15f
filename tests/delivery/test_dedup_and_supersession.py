"""The dedup table and the supersession check on a real PostgreSQL database."""

from __future__ import annotations

import asyncpg
import pytest

from service.delivery.dedup import PostgresDedup, ensure_schema
from service.delivery.failures import DependencyUnavailable
from service.delivery.supersession import PostgresSupersession, RecorderSupersession
from service.domain.credential import TempStrongPassword
from service.eventstore.application import EventStoreApp
from tests.support.database import create_database, drop_database, url_for
from tests.support.envelopes import CLIENT, unique
from tests.support.events import credential_with
from tests.support.waiting import eventually


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


async def test_claims_then_finish_record_each_message_once(pool: asyncpg.Pool) -> None:
    dedup = PostgresDedup(pool)
    first, second, third = (unique("event") for _ in range(3))
    claims = await dedup.claim([first, second, third])
    assert claims.claimed == {first, second, third}
    # while claimed, another worker (another connection) finds them in hand
    other = await PostgresDedup(pool).claim([first])
    assert other.busy == {first}
    await other.finish([])
    await claims.finish([first])  # second and third failed: let go, not recorded
    again = await dedup.claim([first, second, third])
    assert again.delivered == {first} and again.claimed == {second, third}
    await again.finish([])


async def test_a_crashed_workers_claims_are_taken_over_once_its_lease_lapsed(
    pool: asyncpg.Pool,
) -> None:
    """A worker that crashes mid-send stops renewing its lease; what it claimed is free then."""
    key = unique("event")
    crashed = await PostgresDedup(pool, lease_seconds=1.0).claim([key])
    assert crashed.claimed == {key}
    meanwhile = await PostgresDedup(pool).claim([key])
    assert meanwhile.busy == {key}
    taker = PostgresDedup(pool)

    async def taken_over() -> bool:
        claims = await taker.claim([key])
        if claims.claimed:
            await claims.finish([key])
        return bool(claims.claimed)

    await eventually(taken_over, timeout=10)
    later = await PostgresDedup(pool).claim([key])
    assert later.delivered == {key}


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
    deleted = TempStrongPassword.create_id(CLIENT, await credential_with(event_store, delete=True))
    unknown = TempStrongPassword.create_id(CLIENT, unique("cred"))
    asked = [(reset_twice, 1), (reset_twice, 2), (reset_twice, 3), (deleted, 1), (unknown, 1)]
    # one question for the whole batch
    assert await supersession.superseded(asked) == {
        (reset_twice, 1),
        (reset_twice, 2),
        (deleted, 1),
    }
    assert await supersession.superseded([]) == set()


async def test_a_missing_event_store_is_a_dependency_outage() -> None:
    empty = await create_database(prefix="tempstrong_delivery_empty")
    other = await asyncpg.create_pool(url_for(empty), min_size=1, max_size=1)
    try:
        credential = TempStrongPassword.create_id(CLIENT, "x")
        with pytest.raises(DependencyUnavailable):
            await PostgresSupersession(other).superseded([(credential, 1)])
        with pytest.raises(DependencyUnavailable):
            await PostgresDedup(other).claim(["x"])
    finally:
        await other.close()
        await drop_database(empty)
    with pytest.raises(DependencyUnavailable):
        await PostgresDedup(other).claim(["x"])
