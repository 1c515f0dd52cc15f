"""`tempstrong api`: the HTTP API on PostgreSQL (asyncpg store with group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from projections.credentials.postgres import PostgresCredentialsReader

from ..config import API, Settings
from ..eventstore.application import event_mapper
from ..eventstore.postgres import PostgresStore
from ..http.app import create_app
from ..http.context import ApiContext
from ..observability.logs import configure_logging
from .parts import build_api_context, postgres_readiness
from .policies import load_policy_file
from .running import log_started, log_stopped, run_until_signalled, serve_app, traced

REQUIRED = (
    "database_url",
    "jwks",
    "jwt_issuer",
    "jwt_audience",
    "policy_file",
    "delivery_public_key",
    "personal_data_keys",
)


def api_app(settings: Settings) -> web.Application:
    """The production API, its resources opened and closed with the app (cleanup_ctx)."""
    settings.require(API, *REQUIRED)
    assert settings.database_url and settings.policy_file
    catalog = load_policy_file(settings.policy_file, settings.hash_key)
    mapper = event_mapper()
    store = PostgresStore(settings.database_url, mapper)
    reader = PostgresCredentialsReader(settings.database_url, mapper)
    context = build_api_context(
        settings,
        store,
        catalog,
        not_ready=postgres_readiness(settings.database_url),
        pages=reader,
    )
    app = create_app(context)
    open_with_app(app, context, store, reader)
    return app


def open_with_app(
    app: web.Application,
    context: ApiContext,
    store: PostgresStore,
    reader: PostgresCredentialsReader | None = None,
) -> None:
    """The store (and the read model's reader) open when the app starts and close after it."""

    async def resources(_: web.Application) -> AsyncIterator[None]:
        await store.open()
        context.metrics.watch_group_commit(store.writer)
        try:
            yield
        finally:
            if reader is not None:
                await reader.close()
            await store.close()

    app.cleanup_ctx.append(resources)


def main(settings: Settings) -> int:
    with traced(API, api=True):
        return _serve(settings)


def _serve(settings: Settings) -> int:
    app = api_app(settings)  # refuses to start (ConfigError) before anything listens
    configure_logging()

    async def run(stop: asyncio.Event) -> None:
        await serve_app(
            app,
            settings.http_host,
            settings.http_port,
            stop,
            reuse_port=settings.http_reuse_port,
            listening=lambda listener: log_started(API, settings, listener=listener),
        )
        log_stopped(API)

    return run_until_signalled(run)
