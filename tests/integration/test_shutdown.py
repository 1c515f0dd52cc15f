"""Graceful SIGTERM: the API stops accepting, finishes the in-flight request, exits 0."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import asyncpg
import pytest

from tests.support.http import BASE
from tests.support.process import api_env, free_port, run, start, wait_http


async def test_sigterm_during_a_slow_request_lets_it_finish(tmp_path, fresh_database):
    env = {"TEMPSTRONG_DATABASE_URL": fresh_database}
    assert run(["migrate"], env, tmp_path).returncode == 0
    port = free_port()
    env.update(api_env(tmp_path, port))
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
