"""An API of its own per test module, on the production path (asyncpg store, group commit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from service.config import Settings
from service.eventstore.application import EventStoreApp
from service.eventstore.postgres import PostgresStore
from service.http.app import create_app
from service.roots.api import open_with_app
from service.roots.parts import build_api_context, postgres_readiness
from service.roots.policies import load_policy_file
from tests.conftest import Api

ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def make_api(settings: Settings, store: EventStoreApp, clock: Any) -> ApiFactory:
    """`async with make_api(cache_size=8, database_url=...) as api:` a server of its own."""

    @asynccontextmanager
    async def serve(
        *, cache_size: int = 5000, database_url: str | None = None
    ) -> AsyncIterator[Api]:
        assert settings.policy_file and settings.database_url
        url = database_url or settings.database_url
        event_store = PostgresStore(url, store.mapper, cache_size=cache_size)
        context = build_api_context(
            settings,
            event_store,
            load_policy_file(settings.policy_file, settings.hash_key),
            not_ready=postgres_readiness(url),
            clock=clock,
        )
        app = create_app(context)
        open_with_app(app, context, event_store)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with ClientSession() as session:
                yield Api(session, str(server.make_url("")).rstrip("/"), context)
        finally:
            await server.close()

    return serve
