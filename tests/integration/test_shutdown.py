"""Graceful SIGTERM: the API stops accepting, finishes the in-flight request, exits 0."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import asyncpg
import pytest

from tests.support.database import create_database, drop_database, url_for
from tests.support.http import BASE
from tests.support.policies import POLICY_FILE
from tests.support.process import free_port, run, start, wait_http


@pytest.fixture
async def fresh_database():
    name = await create_database("tempstrong_shutdown")
    yield url_for(name)
    await drop_database(name)


async def test_sigterm_during_a_slow_request_lets_it_finish(tmp_path, fresh_database):
    env = {"TEMPSTRONG_DATABASE_URL": fresh_database}
    assert run(["migrate"], env, tmp_path).returncode == 0
    assert run(["keys", "--out", "k"], {}, tmp_path).returncode == 0
    (tmp_path / "policies.yaml").write_text(POLICY_FILE)
    port = free_port()
    env.update(
        TEMPSTRONG_JWKS=str(tmp_path / "k" / "jwks.json"),
        TEMPSTRONG_JWT_ISSUER="tempstrong-dev",
        TEMPSTRONG_JWT_AUDIENCE="tempstrong",
        TEMPSTRONG_POLICY_FILE=str(tmp_path / "policies.yaml"),
        TEMPSTRONG_DELIVERY_PUBLIC_KEY=(tmp_path / "k" / "delivery-public.key").read_text().strip(),
        TEMPSTRONG_HASH_KEY=(tmp_path / "k" / "hash.key").read_text().strip(),
        TEMPSTRONG_HTTP_PORT=str(port),
    )
    token = run(
        ["token", "--keys", "k", "--client", "acme", "--permissions", "AccessControl.UserCreate"],
        {},
        tmp_path,
    ).stdout.strip()
    process = start(["api"], env, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", process)
        blocker = await asyncpg.connect(fresh_database)
        transaction = blocker.transaction()
        await transaction.start()
        # Writers queue behind this lock: the next request stays in flight until we release it.
        await blocker.execute("LOCK TABLE tempstrong_events IN EXCLUSIVE MODE")
        async with aiohttp.ClientSession(headers={"X-Token": token}) as session:
            request = asyncio.create_task(
                session.post(
                    f"http://127.0.0.1:{port}{BASE}/acme/users", json={"extId": "slow-user"}
                )
            )
            await asyncio.sleep(0.5)
            assert not request.done()
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            started = time.monotonic()
            await transaction.rollback()
            await blocker.close()
            response = await asyncio.wait_for(request, 20)
            assert response.status == 201
            response.release()
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - started < 20
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        if process.poll() is None:
            process.kill()
