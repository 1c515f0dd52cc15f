"""The whole path with real processes: api, publisher and delivery worker on PostgreSQL,
RabbitMQ, a real SMTP server and a real SMS gateway. fragment0 comes from the HTTP response,
fragment1 from the mail, and together they verify."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.delivery.sinks import SmsSink, SmtpSink
from tests.support.amqp import create_vhost, delete_vhost
from tests.support.database import create_database, drop_database, url_for
from tests.support.http import BASE
from tests.support.process import api_env, free_port, run, start, wait_http

CODE_LINE = re.compile(r"^Code: (\S+)\r?$", re.MULTILINE)
PERMISSIONS = [
    "AccessControl.UserCreate",
    "AccessControl.CredentialCreate",
    "AccessControl.CredentialView",
    "AccessControl.CredentialModify",
    "AccessControl.CredentialVerify",
]


@pytest.fixture
async def stack(tmp_path) -> AsyncIterator[dict]:
    database = await create_database("tempstrong_e2e")
    vhost, amqp_url = await asyncio.to_thread(create_vhost)
    smtp = SmtpSink()
    smtp.start()
    sms = SmsSink()
    await sms.start()
    port = free_port()
    keys = tmp_path / "k"
    env = {
        **api_env(tmp_path, port),
        "TEMPSTRONG_DATABASE_URL": url_for(database),
        "TEMPSTRONG_AMQP_URL": amqp_url,
        "TEMPSTRONG_SMTP_URL": smtp.url,
        "TEMPSTRONG_SMS_URL": sms.url,
        "TEMPSTRONG_SPOOL_DIR": str(tmp_path / "spool"),
    }
    migrated = run(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    worker_env = {
        **env,
        "TEMPSTRONG_DELIVERY_PUBLIC_KEY": "",
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY": (keys / "delivery-private.key").read_text().strip(),
    }
    processes = [
        start(["api"], env, tmp_path),
        start(["publisher"], env, tmp_path),
        start(["delivery"], worker_env, tmp_path),
    ]
    token = run(
        ["token", "--keys", "k", "--client", "acme", "--permissions", *PERMISSIONS], {}, tmp_path
    ).stdout.strip()
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", processes[0])
        async with aiohttp.ClientSession(headers={"X-Token": token}) as session:
            yield {
                "session": session,
                "base": f"http://127.0.0.1:{port}{BASE}/acme",
                "smtp": smtp,
                "sms": sms,
            }
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in processes]
        smtp.stop()
        await sms.close()
        await asyncio.to_thread(delete_vhost, vhost)
        await drop_database(database)
    assert codes == [0, 0, 0]


async def _eventually(probe, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if value := probe():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("nothing arrived in time")


async def test_fragment0_from_response_plus_fragment1_from_mail_verifies(stack):
    session, base, smtp = stack["session"], stack["base"], stack["smtp"]
    email = "alice@example.com"
    async with session.post(f"{base}/users", json={"extId": "alice", "email": email}) as r:
        assert r.status == 201
    async with session.post(f"{base}/users/alice/tempstrong-password") as r:
        assert r.status == 201
    await _eventually(lambda: smtp.to(email))
    async with session.post(f"{base}/users/alice/tempstrong-password/reset") as r:
        assert r.status == 200
        fragment0 = (await r.json())["tempStrongPassword"]
    mails = await _eventually(lambda: len(smtp.to(email)) >= 2 and smtp.to(email))
    fragment1 = CODE_LINE.findall(mails[-1].text)[0]
    assert len(fragment1) == 8 and fragment0 not in mails[-1].text
    async with session.post(
        f"{base}/users/alice/tempstrong-password/verify", json={"password": fragment0}
    ) as r:
        assert r.status == 401
    async with session.post(
        f"{base}/users/alice/tempstrong-password/verify", json={"password": fragment0 + fragment1}
    ) as r:
        assert r.status == 200 and await r.json() == {"result": "ok"}
    await asyncio.sleep(0.5)
    assert len(smtp.to(email)) == 2  # once per create/reset, never twice


async def test_hidden_policy_answers_204_and_sends_the_whole_password_by_sms(stack):
    session, base, sms = stack["session"], stack["base"], stack["sms"]
    mobile = "+41790001234"
    async with session.post(f"{base}/users", json={"extId": "bob", "mobile": mobile}) as r:
        assert r.status == 201
    async with session.post(
        f"{base}/users/bob/tempstrong-password", json={"policyExtId": "tsp-hidden-sms"}
    ) as r:
        assert r.status == 201 and "tempStrongPassword" not in await r.json()
    await _eventually(lambda: sms.to(mobile))
    async with session.post(f"{base}/users/bob/tempstrong-password/reset") as r:
        assert r.status == 204
    messages = await _eventually(lambda: len(sms.to(mobile)) >= 2 and sms.to(mobile))
    password = CODE_LINE.findall(messages[-1]["text"])[0]
    assert len(password) == 38
    async with session.post(
        f"{base}/users/bob/tempstrong-password/verify", json={"password": password}
    ) as r:
        assert r.status == 200
