"""Issue 11, finding 1: no single event stops the publisher for every client.

A 254-character credential extId made the envelope's message_id 256 bytes (over an AMQP short
string), a 256-byte X-Request-Id did the same to the correlation id; the publisher retried the
same batch for ever and every later event of every client waited.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

from projections.parking import PARKED_TABLE
from projections.publisher.messages import Kind
from service.commands.outcomes import UserProfile
from service.domain.credential import TempStrongPassword
from service.domain.ids import event_id
from service.observability.correlation import correlation_id_of
from tests.conftest import HASH_KEY
from tests.support.http import Caller, credential_path
from tests.support.process import run
from tests.support.publishing import drain, publishing_world

LONG_EXT_ID = "c" * 254


async def _user_with_credential(commands, user: str, ext_id: str | None = None):  # type: ignore[no-untyped-def]
    await commands.users.register("acme", user, UserProfile(email=f"{user}@example.com"))
    return await commands.credentials.create(
        "acme", user, ext_id=ext_id, policy_ext_id=None, state_name=None, actor="helpdesk"
    )


async def test_a_254_character_ext_id_is_published_with_an_event_id(settings):
    async with publishing_world(settings, HASH_KEY) as world:
        created = await _user_with_credential(world.commands, "long", LONG_EXT_ID)
        await world.commands.credentials.reset("acme", "long", actor="h", idempotency=None)
        await _user_with_credential(world.commands, "after")
        envelopes = await drain(await world.delivery_queue(), 3)
        events = await drain(world.events, 3)
        ids = {m.message_id for m in envelopes}
        assert ids >= {str(event_id(created.credential.id, v)) for v in (1, 2)}
        assert all(len(i.encode()) <= 255 for i in ids)
        assert len(events) == 3  # created, reset, and the next credential's created
        assert world.metric("tempstrong_parked_total", {"follower": "publisher"}) == 0


def test_a_stored_correlation_id_outside_the_syntax_is_not_carried_on():
    class Event:
        correlation_id = "é" * 128

    assert correlation_id_of(Event()) is None
    Event.correlation_id = "req-1:a/b=c+d.e_f"
    assert correlation_id_of(Event()) == "req-1:a/b=c+d.e_f"


async def test_an_x_request_id_outside_the_syntax_is_replaced_and_never_stored(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential("acme", policyExtId="tsp-busy")
    path = credential_path("acme", user) + "/reset"
    host, port = api.base.removeprefix("http://").split(":")
    raw = (
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-Token: {caller.token}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n"
        ).encode()
        + b"X-Request-Id: "
        + "é".encode() * 128
        + b"\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(raw)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 200"), head
    [echoed] = [
        line.split(":", 1)[1].strip()
        for line in head.split("\r\n")
        if line.lower().startswith("x-request-id:")
    ]
    assert len(echoed) == 32 and echoed.isalnum()
    _, history = await caller.request("GET", credential_path("acme", user) + "/events")
    assert history["items"][-1]["data"]["correlationId"] == echoed


async def test_an_event_that_does_not_decode_is_parked_and_the_stream_goes_on(settings):
    async with publishing_world(settings, HASH_KEY, park_after=0.0) as world:
        poison_id = uuid.uuid4()
        topic = "service.domain.credential:TempStrongPassword.TempStrongPasswordReset"
        await world.pool.execute(
            "INSERT INTO tempstrong_events (originator_id, originator_version, topic, state) "
            "VALUES ($1, 1, $2, $3)",
            poison_id,
            topic,
            b"\x00 not an event",
        )
        await _user_with_credential(world.commands, "next")
        events = await drain(world.events, 1)
        assert [json.loads(m.body)["subject"] for m in events] == [
            str((await world.queries.credentials.get("acme", "next")).credential.ext_id)
        ]
        row = await world.pool.fetchrow(f"SELECT * FROM {PARKED_TABLE}")
        assert row["event_id"] == event_id(poison_id, 1)
        assert row["reason"].startswith("decode: ") and row["attempts"] == 1
        assert world.metric("tempstrong_parked_total", {"follower": "publisher"}) == 1
        # it still cannot be published: republish says so and leaves it parked
        result = await asyncio.to_thread(
            run, ["republish", str(row["event_id"])], _env(world), os.getcwd()
        )
        assert result.returncode == 1 and "still cannot be encoded" in result.stderr
        assert await world.pool.fetchval(f"SELECT republished_at FROM {PARKED_TABLE}") is None


async def test_an_event_the_broker_refuses_is_parked_then_republished(settings):
    refused_credential = TempStrongPassword.create_id("acme", "refused-cred")

    def refuse(message) -> bool:  # type: ignore[no-untyped-def]
        return message.kind is Kind.EVENT and json.loads(message.body)["subject"] == "refused-cred"

    async with publishing_world(settings, HASH_KEY, refuse=refuse, park_after=0.0) as world:
        await _user_with_credential(world.commands, "refused", "refused-cred")
        await _user_with_credential(world.commands, "other", "other-cred")
        events = await drain(world.events, 1)
        assert {json.loads(m.body)["subject"] for m in events} == {"other-cred"}
        parked_id = event_id(refused_credential, 1)
        row = await world.pool.fetchrow(f"SELECT * FROM {PARKED_TABLE}")
        assert row["event_id"] == parked_id and row["reason"] == "publish: DeliveryError"
        result = await asyncio.to_thread(
            run, ["republish", str(parked_id)], _env(world), os.getcwd()
        )
        assert result.returncode == 0, result.stderr
        republished = await drain(world.events, 1)
        assert [m.message_id for m in republished] == [str(parked_id)]
        assert await world.pool.fetchval(f"SELECT republished_at FROM {PARKED_TABLE}")


def _env(world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"TEMPSTRONG_DATABASE_URL": world.database_url, "TEMPSTRONG_AMQP_URL": world.amqp_url}
