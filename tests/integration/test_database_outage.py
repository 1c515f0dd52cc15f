"""Database unreachable: 503 errors.unavailable (never 500, never a hang); recovery by itself."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestServer

from service.eventstore.application import event_mapper
from service.eventstore.postgres import PostgresStore
from service.http.app import create_app
from service.roots.api import open_with_app
from service.roots.parts import build_api_context, postgres_readiness
from service.roots.policies import load_policy_file
from tests.support.http import BASE, credential_path
from tests.support.proxy import TcpProxy


def _via(database_url: str, port: int) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


async def test_outage_answers_503_and_the_api_recovers(settings, tokens, database_url, store):
    # `store` made the tables
    parts = urlsplit(database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    url = _via(database_url, proxy.port)
    event_store = PostgresStore(url, event_mapper())
    context = build_api_context(
        settings,
        event_store,
        load_policy_file(settings.policy_file, settings.hash_key),
        not_ready=postgres_readiness(url),
    )
    app = create_app(context)
    open_with_app(app, context, event_store)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    headers = {"X-Token": tokens.admin()}
    user = f"outage-{int(time.time() * 1000)}"
    try:
        async with ClientSession(headers=headers, timeout=ClientTimeout(total=30)) as session:
            base = str(server.make_url("")).rstrip("/")

            async def reset() -> int:
                async with session.post(base + credential_path("acme", user) + "/reset") as r:
                    if r.status >= 400:
                        body = await r.json()
                        assert "errors" in body
                    return r.status

            async with session.post(
                f"{base}{BASE}/acme/users", json={"extId": user, "email": "o@example.com"}
            ) as r:
                assert r.status == 201
            async with session.post(base + credential_path("acme", user)) as r:
                assert r.status == 201
            assert await reset() == 200

            await proxy.cut()
            started = time.monotonic()
            statuses = await asyncio.gather(*(reset() for _ in range(4)))
            assert set(statuses) == {503}, statuses
            assert time.monotonic() - started < 20
            async with session.get(base + "/readyz") as r:
                assert r.status == 503
            async with session.get(base + "/healthz") as r:
                assert r.status == 200

            await proxy.start()  # the database is back, same address
            deadline = time.monotonic() + 20
            attempts = []
            while (status := await reset()) != 200 and time.monotonic() < deadline:
                attempts.append(status)
                await asyncio.sleep(0.5)
            assert status == 200
            # a 503 never commits later: only the two successful resets are in the history
            async with session.get(base + credential_path("acme", user)) as r:
                assert (await r.json())["resetCount"] == 2, attempts
            async with session.get(base + "/readyz") as r:
                assert r.status == 200
    finally:
        await server.close()
        await proxy.cut()
