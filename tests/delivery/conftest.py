"""Delivery fixtures: keys, a PostgreSQL database with the event store table, a RabbitMQ vhost,
an SMTP sink and an SMS sink, all created for this test session and removed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from service.delivery.dedup import ensure_schema
from service.eventstore.application import EventStoreApp, postgres_env
from service.security.devkeys import DevKeys
from service.security.sealing import Opener, Sealer
from tests.support.amqp import create_vhost, delete_vhost
from tests.support.database import create_database, drop_database, url_for
from tests.support.sinks import SmsSink, SmtpSink


@pytest.fixture(scope="session")
def sealer(delivery_keys: DevKeys) -> Sealer:
    return Sealer(delivery_keys.delivery_public_key)


@pytest.fixture(scope="session")
def opener(delivery_keys: DevKeys) -> Opener:
    return Opener(delivery_keys.delivery_private_key)


@pytest.fixture(scope="session")
async def delivery_database() -> AsyncIterator[str]:
    name = await create_database(prefix="tempstrong_delivery")
    yield url_for(name)
    await drop_database(name)


@pytest.fixture(scope="session")
def event_store(delivery_database: str) -> Iterator[EventStoreApp]:
    """Creates `tempstrong_events`, which the worker reads to find superseded envelopes."""
    store = EventStoreApp(env=postgres_env(delivery_database, create_table=True))
    yield store
    store.close()


@pytest.fixture(scope="session")
async def pool(delivery_database: str, event_store: EventStoreApp) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(delivery_database, min_size=1, max_size=4)
    await ensure_schema(pool)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    vhost, url = create_vhost()
    yield url
    delete_vhost(vhost)


@pytest.fixture
def fresh_amqp_url() -> Iterator[str]:
    """A vhost of its own, for a test that must be the only consumer of its queue."""
    vhost, url = create_vhost()
    yield url
    delete_vhost(vhost)


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
async def sms_sink() -> AsyncIterator[SmsSink]:
    sink = SmsSink()
    await sink.start()
    yield sink
    await sink.close()


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"
