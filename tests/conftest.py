"""Shared fixtures: keys, a fresh PostgreSQL database, and the API served over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from projections.credentials.postgres import (
    PostgresCredentialsReader,
    PostgresCredentialsView,
    ensure_schema,
)
from projections.follower import Follower, FollowerMetrics
from service.config import Settings
from service.eventstore.application import EventStoreApp, postgres_env
from service.eventstore.notifications import PostgresNotifications
from service.eventstore.postgres import PostgresStore
from service.http.app import create_app
from service.http.context import ApiContext
from service.roots.api import open_with_app
from service.roots.parts import build_api_context, postgres_readiness
from service.roots.policies import load_policy_file
from service.security.devkeys import make_dev_keys
from tests.support.clock import SettableClock
from tests.support.database import create_database, drop_database, url_for
from tests.support.keys import AUDIENCE, ISSUER, TokenFactory, new_key
from tests.support.policies import POLICY_FILE

HASH_KEY = b"test-hash-key-0123456789abcdef"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tempstrong")


@pytest.fixture(scope="session")
def tokens(workdir: Path) -> TokenFactory:
    factory = TokenFactory(workdir / "jwks.json")
    factory.publish(new_key("ed-1", "EdDSA"), new_key("rsa-1", "RS256"), new_key("ec-1", "ES256"))
    return factory


@pytest.fixture(scope="session")
def delivery_keys(workdir: Path):  # type: ignore[no-untyped-def]
    return make_dev_keys(workdir / "delivery")


@pytest.fixture(scope="session")
def policy_path(workdir: Path) -> Path:
    path = workdir / "policies.yaml"
    path.write_text(POLICY_FILE)
    return path


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    name = await create_database()
    yield url_for(name)
    await drop_database(name)


@pytest.fixture(scope="session")
def settings(tokens: TokenFactory, delivery_keys, policy_path: Path, database_url: str) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        database_url=database_url,
        jwks=str(tokens.jwks_path),
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        policy_file=str(policy_path),
        hash_key=HASH_KEY,
        delivery_public_key=delivery_keys.delivery_public_key,
        personal_data_keys=str(delivery_keys.personal_data_keys_path),
    )


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """A database of its own, for tests that run `tempstrong` processes against it."""
    name = await create_database("tempstrong_proc")
    yield url_for(name)
    await drop_database(name)


@pytest.fixture(scope="session")
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(scope="session")
def store(database_url: str) -> Iterator[EventStoreApp]:
    app = EventStoreApp(env=postgres_env(database_url, create_table=True))
    yield app
    app.close()


@dataclass
class Api:
    session: ClientSession
    base: str
    context: ApiContext

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
async def api(settings: Settings, store: EventStoreApp, clock: SettableClock) -> AsyncIterator[Api]:
    assert settings.policy_file and settings.database_url
    catalog = load_policy_file(settings.policy_file, settings.hash_key)
    # the production path: asyncpg store with group commit (the `store` fixture made the tables)
    event_store = PostgresStore(settings.database_url, store.mapper)
    reader = PostgresCredentialsReader(settings.database_url, store.mapper)
    context = build_api_context(
        settings,
        event_store,
        catalog,
        not_ready=postgres_readiness(settings.database_url),
        pages=reader,
        clock=clock,
    )
    app = create_app(context)
    open_with_app(app, context, event_store, reader)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as session:
        yield Api(session, str(server.make_url("")).rstrip("/"), context)
    await server.close()


@dataclass
class RunningProjector:
    follower: Follower
    source: PostgresNotifications

    async def caught_up(self, timeout: float = 15) -> None:
        """Waits until the view has applied everything recorded so far."""
        head = await self.source.head()
        deadline = asyncio.get_running_loop().time() + timeout
        while self.follower.position < head:
            assert asyncio.get_running_loop().time() < deadline, "projector did not catch up"
            await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
async def projector(database_url: str, store: EventStoreApp) -> AsyncIterator[RunningProjector]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=3)
    async with pool.acquire() as connection:
        await ensure_schema(connection)
    source = PostgresNotifications(database_url)
    follower = Follower(
        source, PostgresCredentialsView(pool, store.mapper), FollowerMetrics(CollectorRegistry())
    )
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop))
    yield RunningProjector(follower, source)
    stop.set()
    await task
    await source.close()
    await pool.close()
