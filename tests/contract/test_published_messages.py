"""What the publisher really sends, against the AsyncAPI document.

The real write path (commands on PostgreSQL) and the real publisher (following the event store
into a RabbitMQ vhost of its own) go through every event type; each message that reaches a queue
bound to every event, and each envelope on `tempstrong.delivery`, is checked against the channel
the document gives its exchange and routing key: payload and headers against their JSON Schemas,
content type, `message_id`, `correlation_id` and delivery mode as the document declares them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from jsonschema import FormatChecker

from service.commands.outcomes import UserProfile
from service.contracts.asyncapi import build_asyncapi
from service.contracts.cloudevents import EVENT_TYPES, USER_EVENT_TYPES
from service.contracts.topology import (
    CORRELATION_HEADER,
    CREDENTIAL_HEADER,
    DELIVERY_EXCHANGE,
    EVENTS_EXCHANGE,
)
from service.domain.states import CredentialState
from service.observability.logs import request_id_in_scope
from tests.conftest import HASH_KEY
from tests.support.asyncapi import Document, errors
from tests.support.publishing import drain, publishing_world

CORRELATION = "contract-run-1"
EVENTS = 17
ENVELOPES = 5
# Headers RabbitMQ itself adds on the way (quorum queues count deliveries; dead-lettering)
BROKER_HEADERS = frozenset({"x-delivery-count", "x-death"})


@dataclass(frozen=True)
class Received:
    exchange: str
    routing_key: str
    body: bytes
    content_type: str | None
    message_id: str | None
    correlation_id: str | None
    headers: dict[str, Any]
    delivery_mode: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _received(message: Any) -> Received:
    return Received(
        message.exchange,
        message.routing_key,
        message.body,
        message.content_type,
        message.message_id,
        message.correlation_id,
        dict(message.headers or {}),
        int(message.delivery_mode),
    )


async def _user(commands: Any, client: str, name: str) -> None:
    profile = UserProfile(email=f"{name}@example.com", mobile="+41791112233", language="de-CH")
    await commands.users.register(client, name, profile)


async def _create(commands: Any, client: str, name: str, policy: str) -> Any:
    return await commands.credentials.create(
        client, name, ext_id=f"cred-{name}", policy_ext_id=policy, state_name=None, actor="helpdesk"
    )


@pytest.fixture(scope="module")
async def published(settings) -> AsyncIterator[tuple[list[Received], list[Received]]]:
    """Every event type, through the write path and the publisher: (events, envelopes)."""
    async with publishing_world(settings, HASH_KEY) as world:
        c = world.commands
        # ann (Email): created and reset carry envelopes; a failed login; deleted on its own
        with request_id_in_scope(CORRELATION):
            await _user(c, "acme", "ann")
            await _create(c, "acme", "ann", "tsp-default")
            await c.credentials.reset("acme", "ann", actor="helpdesk", idempotency=None)
        assert not await c.credentials.verify("acme", "ann", "wrong")
        await c.credentials.delete("acme", "ann", actor="helpdesk")
        # bea (no out-of-band channel: the response has the whole password): logins, PATCHes,
        # deleted with her user
        await _user(c, "acme", "bea")
        password = (await _create(c, "acme", "bea", "tsp-none")).response_secret
        assert await c.credentials.verify("acme", "bea", password)  # initial -> active
        assert await c.credentials.verify("acme", "bea", password)
        await c.credentials.modify(
            "acme",
            "bea",
            expected_version=3,
            state_name=CredentialState.DISABLED,
            policy_ext_id="tsp-busy",
            modification_comment="Ausweis geprüft ✓",  # non-ASCII survives the encoding
            actor="admin",
        )  # state-changed and policy-changed, saved together
        await c.credentials.modify(
            "acme",
            "bea",
            expected_version=5,
            state_name=None,
            policy_ext_id=None,
            modification_comment="comment only",
            actor="admin",
        )
        await c.users.delete("acme", "bea", actor="admin")
        # cid: the second failure tmp-locks (strict mode, threshold 2)
        await _user(c, "acme", "cid")
        await _create(c, "acme", "cid", "tsp-strict")
        for _ in range(2):
            assert not await c.credentials.verify("acme", "cid", "wrong")
        # dan: an SMS envelope; eve: another client
        await _user(c, "acme", "dan")
        await _create(c, "acme", "dan", "tsp-hidden-sms")
        await _user(c, "other", "eve")
        await _create(c, "other", "eve", "tsp-default")

        events = [_received(m) for m in await drain(world.events, EVENTS)]
        envelopes = [_received(m) for m in await drain(await world.delivery_queue(), ENVELOPES)]
    yield events, envelopes


@pytest.fixture(scope="module")
def document() -> Document:
    return Document(build_asyncapi())


def _check_against_the_document(doc: Document, message: Received) -> str:
    """Every check the document makes possible; the channel the message belongs to."""
    channel = doc.channel_for(message.exchange, message.routing_key)
    (spec,) = doc.messages(channel)
    body = message.json
    assert errors(doc.validator(spec.pointer + "/payload"), body) == [], (channel, body)
    declared = doc.declared_properties(spec.spec["payload"])
    assert declared is not None and set(body) <= declared, set(body) - (declared or set())
    data_schema = doc.property_schema(spec.spec["payload"], "data")
    if data_schema is not None:
        data_declared = doc.declared_properties(data_schema) or set()
        assert set(body["data"]) <= data_declared, set(body["data"]) - data_declared
    expected_type = spec.spec.get("contentType", doc.document["defaultContentType"])
    assert message.content_type == expected_type
    assert errors(doc.validator(spec.pointer + "/headers"), message.headers) == []
    sent_headers = set(message.headers) - BROKER_HEADERS
    assert sent_headers <= (doc.declared_properties(spec.spec["headers"]) or set())
    _, correlation = doc.resolve(spec.spec["correlationId"])
    assert correlation["location"] == "$message.header#/correlation_id"
    assert message.correlation_id == message.headers.get(CORRELATION_HEADER)
    location = spec.spec["x-amqp-message-id"]
    assert location.startswith("$message.payload#/")
    assert message.message_id == body[location.removeprefix("$message.payload#/")]
    operation = doc.operation_sending(channel)
    assert message.delivery_mode == operation["bindings"]["amqp"]["deliveryMode"]
    return channel


def test_the_validators_check_formats():
    assert {"date-time", "uuid"} <= set(FormatChecker().checkers)


def test_every_event_matches_its_channel_in_the_document(document, published):
    events, _ = published
    assert len(events) == EVENTS, [m.routing_key for m in events]
    channels = [_check_against_the_document(document, m) for m in events]
    assert all(m.exchange == EVENTS_EXCHANGE for m in events)
    # every event type was published and checked (bea's deletion erased her: user.erased)
    every_type = set(EVENT_TYPES.values()) | {f"user-{s}" for s in USER_EVENT_TYPES.values()}
    assert set(channels) == every_type == set(document.event_channels(EVENTS_EXCHANGE))
    bodies = [m.json for m in events]
    assert {b["data"]["clientExtId"] for b in bodies} == {"acme", "other"}
    assert "tmp-locked" in {b["data"].get("stateName") for b in bodies}
    # the free text about a credential is personal data: never on the broker
    assert not any("modificationComment" in b["data"] for b in bodies)
    assert not any(b"Ausweis" in m.body or b"comment only" in m.body for m in events)
    erased = [b for b in bodies if b["type"] == "ch.nevis.idm.user.erased.v1"]
    assert [(b["subject"], b["data"]["userExtId"]) for b in erased] == [("bea", "bea")]
    # with and without a correlation id
    assert {m.correlation_id for m in events} == {CORRELATION, None}
    # per credential, in version order
    versions: dict[tuple[str, str], list[int]] = {}
    for body in bodies:
        if body not in erased:
            key = (body["data"]["clientExtId"], body["subject"])
            versions.setdefault(key, []).append(body["data"]["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values()), versions


def test_every_envelope_matches_the_delivery_channel(document, published):
    _, envelopes = published
    assert len(envelopes) == ENVELOPES
    channels = {_check_against_the_document(document, m) for m in envelopes}
    assert channels == {"delivery"}
    assert all(m.exchange == DELIVERY_EXCHANGE for m in envelopes)
    assert {m.json["sendingMethod"] for m in envelopes} == {"Email", "SMS"}
    assert all(m.headers[CREDENTIAL_HEADER] == m.json["credentialId"] for m in envelopes)
    assert {m.correlation_id for m in envelopes} == {CORRELATION, None}


def _rejects(doc: Document, pointer: str, instance: Any) -> bool:
    return bool(errors(doc.validator(pointer), instance))


def test_the_schemas_are_not_trivially_permissive(document, published):
    events, envelopes = published
    doc = document
    created = next(m for m in events if m.routing_key.endswith(".created"))
    (spec,) = doc.messages(doc.channel_for(created.exchange, created.routing_key))
    payload, headers = spec.pointer + "/payload", spec.pointer + "/headers"
    body = created.json
    assert not _rejects(doc, payload, body)

    def changed(edit: Any) -> Any:
        copied = copy.deepcopy(body)
        edit(copied)
        return copied

    wrong = {
        "data without version": changed(lambda b: b["data"].pop("version")),
        "version 0": changed(lambda b: b["data"].update(version=0)),
        "version as text": changed(lambda b: b["data"].update(version="1")),
        "unknown state": changed(lambda b: b["data"].update(stateName="bogus")),
        "date not a date": changed(lambda b: b["data"].update(created="yesterday")),
        "clientExtId with a dot": changed(lambda b: b["data"].update(clientExtId="a.b")),
        "another type": changed(lambda b: b.update(type=b["type"].replace("created", "reset"))),
        "id not a UUID": changed(lambda b: b.update(id="42")),
        "no data": changed(lambda b: b.pop("data")),
        "no subject": changed(lambda b: b.pop("subject")),
        "other specversion": changed(lambda b: b.update(specversion="0.3")),
        "source of another resource": changed(lambda b: b.update(source="/elsewhere")),
    }
    accepted = [name for name, instance in wrong.items() if not _rejects(doc, payload, instance)]
    assert accepted == []
    assert _rejects(doc, headers, {CORRELATION_HEADER: "has spaces"})

    envelope = envelopes[0]
    (spec,) = doc.messages(doc.channel_for(envelope.exchange, envelope.routing_key))
    payload, headers = spec.pointer + "/payload", spec.pointer + "/headers"
    good = envelope.json
    assert not _rejects(doc, payload, good)
    for key in good:
        assert _rejects(doc, payload, {k: v for k, v in good.items() if k != key}), key
    assert _rejects(doc, payload, {**good, "sendingMethod": "None"})
    assert _rejects(doc, headers, {CORRELATION_HEADER: CORRELATION})  # no x-credential-id
