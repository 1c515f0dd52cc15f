"""The AsyncAPI document: generated from the contract code, committed as
docs/asyncapi.yaml, served at GET /asyncapi.json, and accepted by the official parser."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from service.contracts.asyncapi import build_asyncapi, to_yaml
from service.contracts.cloudevents import (
    CONTENT_TYPE,
    EVENT_TYPES,
    USER_EVENT_TYPES,
    CredentialEventData,
    cloud_event_type,
    routing_key,
    user_event_type,
    user_routing_key,
)
from service.contracts.envelope import ENVELOPE_CONTENT_TYPE
from service.contracts.topology import (
    CORRELATION_HEADER,
    CREDENTIAL_HEADER,
    DELIVERY_EXCHANGE,
    DELIVERY_QUEUE,
    EVENTS_EXCHANGE,
)
from tests.support.asyncapi import COMMITTED, REGENERATE, ROOT, Document, run_parser, walk


def test_the_committed_document_is_what_the_code_generates():
    generated = to_yaml(build_asyncapi())
    committed = COMMITTED.read_text() if COMMITTED.exists() else ""
    assert committed == generated, (
        "docs/asyncapi.yaml differs from what service/contracts/asyncapi.py generates from the "
        f"contract code: regenerate it with `{REGENERATE}` and commit it"
    )
    assert yaml.safe_load(committed) == build_asyncapi()


def test_the_module_prints_the_yaml():
    result = subprocess.run(
        [sys.executable, "-m", "service.contracts.asyncapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == to_yaml(build_asyncapi())


def test_one_channel_message_and_send_operation_per_event_type():
    doc = Document(build_asyncapi())
    assert doc.document["asyncapi"] == "3.0.0"
    events = doc.event_channels(EVENTS_EXCHANGE)
    user_events = {f"user-{short}": short for short in USER_EVENT_TYPES.values()}
    assert set(events) == set(EVENT_TYPES.values()) | set(user_events)
    for channel_name, short in user_events.items():
        assert events[channel_name]["address"] == user_routing_key("{clientExtId}", short)
        (message,) = doc.messages(channel_name)
        payload = doc.resolve(message.spec["payload"])[1]
        assert payload["properties"]["type"]["const"] == user_event_type(short)
    for short in EVENT_TYPES.values():
        channel = events[short]
        assert channel["address"] == routing_key("{clientExtId}", short)
        assert channel["bindings"]["amqp"]["exchange"] == {
            "name": EVENTS_EXCHANGE,
            "type": "topic",
            "durable": True,
            "autoDelete": False,
        }
        (message,) = doc.messages(short)
        assert message.spec["contentType"] == CONTENT_TYPE
        payload = doc.resolve(message.spec["payload"])[1]
        assert payload["properties"]["type"]["const"] == cloud_event_type(short)
        operation = doc.operation_sending(short)
        assert operation["bindings"]["amqp"]["mandatory"] is False
    (envelope,) = doc.messages(doc.channel_for(DELIVERY_EXCHANGE, "delivery"))
    assert envelope.spec["contentType"] == ENVELOPE_CONTENT_TYPE
    headers = doc.resolve(envelope.spec["headers"])[1]
    assert headers["required"] == [CREDENTIAL_HEADER]
    assert CORRELATION_HEADER in headers["properties"]
    receivers = [o for o in doc.document["operations"].values() if o["action"] == "receive"]
    assert [o["channel"]["$ref"] for o in receivers] == ["#/channels/delivery-queue"]
    assert doc.document["channels"]["delivery-queue"]["address"] == DELIVERY_QUEUE


def test_data_fields_and_their_presence_follow_credential_event_data():
    doc = Document(build_asyncapi())
    data = doc.document["components"]["schemas"]["CredentialEventData"]
    optional = {"stateChangeReason", "lastSuccessfulLoginDate"}
    optional |= {"lastFailedLoginDate", "createdBy", "modifiedBy"}
    assert len(data["properties"]) == len(CredentialEventData.__dataclass_fields__)
    assert set(data["properties"]) - set(data["required"]) == optional
    assert "tempStrongPassword" not in data["properties"]
    # the free text about a credential is personal data: a consumer reads it from the API
    assert not {"modificationComment", "stateChangeDetail"} & set(data["properties"])
    assert data["properties"]["created"]["format"] == "date-time"
    assert data["properties"]["version"]["type"] == "integer"
    assert data["properties"]["type"]["const"] == "Temporary Strong Password"


def test_every_local_reference_resolves():
    doc = Document(build_asyncapi())
    refs = [n["$ref"] for n in walk(doc.document) if isinstance(n, dict) and "$ref" in n]
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        doc.at(ref[1:])


def test_the_official_parser_accepts_the_committed_document():
    result = run_parser(str(COMMITTED.relative_to(ROOT)))
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 error(s)" in result.stdout
    assert "AsyncAPI 3.0.0" in result.stdout


def test_the_parser_check_fails_on_an_invalid_document():
    document = build_asyncapi()
    document["operations"]["send-created"]["action"] = "publish"  # AsyncAPI 2's word
    result = run_parser("-", stdin=json.dumps(document))
    assert result.returncode != 0, result.stdout
    assert "Error" in result.stdout


async def test_asyncapi_json_is_served_without_a_token(api):
    async with api.session.get(api.url("/asyncapi.json")) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        served = await response.json()
    assert served == build_asyncapi()
    result = run_parser("-", stdin=json.dumps(served))
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 error(s)" in result.stdout
