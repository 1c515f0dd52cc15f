"""The whole path with real processes: api, publisher and delivery worker on PostgreSQL,
RabbitMQ, a real SMTP server and a real SMS gateway. fragment0 comes from the HTTP response,
fragment1 from the mail, and together they verify."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from tests.support.stack import eventually as _eventually
from tests.support.stack import running_stack

CODE_LINE = re.compile(r"^Code: (\S+)\r?$", re.MULTILINE)


@pytest.fixture
async def stack(tmp_path) -> AsyncIterator[dict]:
    async with running_stack(tmp_path) as running:
        yield {
            "session": running.session,
            "base": running.base,
            "smtp": running.smtp,
            "sms": running.sms,
        }


async def test_fragment0_from_response_plus_fragment1_from_mail_verifies(stack):
    session, base, smtp = stack["session"], stack["base"], stack["smtp"]
    email = "alice@corp.local"  # an intranet's special-use domain is a mailbox like any other
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
