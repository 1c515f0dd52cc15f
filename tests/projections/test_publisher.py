"""The publisher against real PostgreSQL and RabbitMQ: the event and envelope contracts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aio_pika
import pytest

from service.commands.outcomes import UserProfile
from service.contracts.envelope import SealedDelivery
from service.contracts.topology import DELIVERY_QUEUE
from service.domain.ids import event_id
from service.domain.password import PasswordHasher
from service.observability.logs import request_id_in_scope
from service.security.sealing import Opener
from tests.conftest import HASH_KEY
from tests.support.personal import reveal
from tests.support.publishing import TEST_EVENTS_QUEUE, drain, publishing_world


@pytest.fixture
async def world(settings) -> AsyncIterator[dict]:
    async with publishing_world(settings, HASH_KEY) as w:
        yield {
            "commands": w.commands,
            "store": w.store,
            "channel": w.channel,
            "events": w.events,
            "follower": w.follower,
            "registry": w.registry,
            "amqp_url": w.amqp_url,
            "broker_link": w.broker_link,
            "database_url": w.database_url,
        }


async def _make_user(commands, name: str, policy: str = "tsp-default"):
    await commands.users.register(
        "acme", name, UserProfile(email=f"{name}@example.com", mobile="+41791112233")
    )
    return await commands.credentials.create(
        "acme", name, ext_id=f"cred-{name}", policy_ext_id=policy, state_name=None, actor="helpdesk"
    )


async def test_events_follow_the_cloudevents_contract(world, delivery_keys):
    commands = world["commands"]
    created = await _make_user(commands, "alice")
    reset = await commands.credentials.reset("acme", "alice", actor="helpdesk", idempotency=None)
    await commands.credentials.verify("acme", "alice", "wrong")
    messages = await drain(world["events"], 3)
    assert len(messages) == 3
    keys = [m.routing_key for m in messages]
    assert keys == [
        "acme.tempstrongpassword.created",
        "acme.tempstrongpassword.reset",
        "acme.tempstrongpassword.login-failed",
    ]
    for message in messages:
        assert message.content_type == "application/cloudevents+json; charset=utf-8"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        body = json.loads(message.body)
        assert message.message_id == body["id"]
        assert body["specversion"] == "1.0"
        assert body["source"] == "/nevisidm/api/core/v1/acme/users/alice/tempstrong-password"
        assert body["subject"] == "cred-alice"
        assert body["time"].endswith("Z")
        assert body["data"]["clientExtId"] == "acme"
        assert "tempStrongPassword" not in body["data"]
        text = message.body.decode()
        for secret in (created.response_secret, reset.response_secret):
            assert secret and secret not in text
        assert "sealed" not in text and "SSHA256" not in text
    types = [json.loads(m.body)["type"] for m in messages]
    assert types == [
        "ch.nevis.idm.tempstrongpassword.created.v1",
        "ch.nevis.idm.tempstrongpassword.reset.v1",
        "ch.nevis.idm.tempstrongpassword.login-failed.v1",
    ]
    data = [json.loads(m.body)["data"] for m in messages]
    assert [d["version"] for d in data] == [1, 2, 3]
    assert data[1]["resetCount"] == 1 and data[2]["failedLoginCount"] == 1


async def test_envelopes_carry_fragment1_sealed_and_it_completes_the_password(world, delivery_keys):
    commands = world["commands"]
    created = await _make_user(commands, "bob")
    queue = await world["channel"].get_queue(DELIVERY_QUEUE)
    messages = await drain(queue, 1)
    assert len(messages) == 1
    message = messages[0]
    assert message.message_id == str(event_id(created.credential.id, 1))
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.headers["x-credential-id"] == str(created.credential.id)
    envelope = json.loads(message.body)
    assert envelope["sendingMethod"] == "Email"
    assert envelope["eventId"] == message.message_id and envelope["version"] == 1
    assert envelope["credentialId"] == str(created.credential.id)
    opened = Opener(delivery_keys.delivery_private_key).open(envelope)
    # an Email envelope carries the address only, sealed to the person's own data key
    assert "email" not in opened and "mobile" not in opened and opened["version"] == 1
    delivery = SealedDelivery.from_json(opened)
    assert delivery.sealed_login_id is None  # bob has no loginId
    revealed = await reveal(delivery, world["database_url"], delivery_keys.personal_data_keys_path)
    assert revealed.email == "bob@example.com" and revealed.mobile is None
    password = created.response_secret + opened["secret"]
    hasher = PasswordHasher(HASH_KEY)
    assert hasher.verify(password, created.credential.password_hash)
    assert await commands.credentials.verify("acme", "bob", password)


async def test_messages_carry_the_correlation_id_of_the_request(world):
    commands = world["commands"]

    with request_id_in_scope("corr-dave"):
        await _make_user(commands, "dave")
    (event,) = await drain(world["events"], 1)
    (envelope,) = await drain(await world["channel"].get_queue(DELIVERY_QUEUE), 1)
    for message in (event, envelope):
        assert message.correlation_id == "corr-dave"
        assert message.headers["x-correlation-id"] == "corr-dave"
    assert "corr-dave" not in event.body.decode()  # the CloudEvent contract is unchanged


async def test_broker_outage_delays_but_never_loses_or_doubles(world):
    commands = world["commands"]
    await _make_user(commands, "carol", "tsp-none")
    assert len(await drain(world["events"], 1)) == 1
    await world["broker_link"].cut()  # RabbitMQ is out of the publisher's reach
    try:
        for _ in range(5):  # resets succeed while the broker is down
            outcome = await commands.credentials.reset("acme", "carol", actor="h", idempotency=None)
            assert outcome.response_secret
        await asyncio.sleep(1.5)  # the publisher tries, fails and backs off meanwhile
        assert world["registry"].get_sample_value(
            "tempstrong_follower_errors_total", {"follower": "publisher"}
        )
    finally:
        await world["broker_link"].start()
    connection = await aio_pika.connect(world["amqp_url"])
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(TEST_EVENTS_QUEUE)
        messages = await drain(queue, 5, timeout=60)
    ids = [m.message_id for m in messages]
    assert len(ids) == len(set(ids)) == 5
    versions = [json.loads(m.body)["data"]["version"] for m in messages]
    assert versions == [2, 3, 4, 5, 6]
