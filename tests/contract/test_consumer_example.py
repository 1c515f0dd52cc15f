"""docs/consumers.md is runnable: its consumer example, against real published events.

The test takes the python block after `<!-- consumer-example -->`, runs it as a process against
a RabbitMQ virtual host of its own (`publishing_world`), and drives the write path so that the
example sees an event twice and one event late (parked by the publisher, then republished with
`tempstrong republish`). The doc's other facts (the table of event types, the example message)
are checked against the generated AsyncAPI document.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import aio_pika
import pytest

from projections.parking import PARKED_TABLE
from projections.publisher.messages import Kind
from service.commands.outcomes import UserProfile
from service.contracts.asyncapi import build_asyncapi
from service.contracts.cloudevents import EVENT_TYPES, cloud_event_type, routing_key
from service.contracts.topology import EVENTS_EXCHANGE
from service.domain.credential import TempStrongPassword
from service.domain.ids import event_id
from tests.conftest import HASH_KEY
from tests.support.asyncapi import ROOT, Document, errors
from tests.support.process import run
from tests.support.publishing import drain, publishing_world

CONSUMERS = ROOT / "docs" / "consumers.md"
EXAMPLE_QUEUE = "example.consumer"
LINE_TIMEOUT = 60  # a guard against a hang, not a measurement


def block_after(marker: str, language: str) -> str:
    text = CONSUMERS.read_text()
    match = re.search(
        rf"<!-- {re.escape(marker)} -->\s*```{language}\n(.*?)^```", text, re.S | re.M
    )
    assert match, f"docs/consumers.md has no ```{language} block after <!-- {marker} -->"
    return match.group(1)


def test_the_table_of_event_types_is_the_documents():
    text = CONSUMERS.read_text()
    table = text.split("<!-- event-types -->", 1)[1].strip().split("\n\n", 1)[0]
    rows = [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in table.splitlines()[2:]
    ]
    assert [row[0] for row in rows] == list(EVENT_TYPES.values())
    document = build_asyncapi()
    for short, key, ce_type, _ in rows:
        assert key == routing_key("<clientExtId>", short)
        assert ce_type == cloud_event_type(short)
        address = document["channels"][short]["address"]
        assert address.replace("{clientExtId}", "<clientExtId>") == key


def test_the_example_message_matches_its_schema():
    body = json.loads(block_after("example-event", "json"))
    doc = Document(build_asyncapi())
    channel = doc.channel_for(EVENTS_EXCHANGE, routing_key("acme", "reset"))
    (message,) = doc.messages(channel)
    assert errors(doc.validator(message.pointer + "/payload"), body) == []
    credential = TempStrongPassword.create_id(body["data"]["clientExtId"], body["subject"])
    assert body["id"] == str(event_id(credential, body["data"]["version"]))


async def _read_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), LINE_TIMEOUT)
    if not line:
        stderr = await process.stderr.read() if process.stderr else b""
        pytest.fail(f"the example exited: {stderr.decode()}")
    return line.decode().rstrip("\n")


async def _parked(world, parked_id) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LINE_TIMEOUT
    while not await world.pool.fetchval(
        f"SELECT count(*) FROM {PARKED_TABLE} WHERE event_id = $1", parked_id
    ):
        assert loop.time() < deadline, "the refused reset was never parked"
        await asyncio.sleep(0.05)


async def test_the_consumer_example_processes_real_events(settings, tmp_path: Path):
    script = tmp_path / "consumer.py"
    script.write_text(block_after("consumer-example", "python"))
    late_credential = TempStrongPassword.create_id("acme", "cred-lea")
    late_id = event_id(late_credential, 2)  # lea's reset

    def refuse(message) -> bool:  # type: ignore[no-untyped-def]
        return message.kind is Kind.EVENT and message.message_id == str(late_id)

    # parked at its first refusal: the publisher then publishes nothing twice, so the example
    # sees exactly the duplicate this test makes
    async with publishing_world(settings, HASH_KEY, refuse=refuse, park_after=0.0) as world:
        env = {
            **os.environ,
            "AMQP_URL": world.amqp_url,
            "QUEUE_NAME": EXAMPLE_QUEUE,
            "BINDING_KEYS": "acme.#",
            "STOP_AFTER": "4",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            str(script),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert (await _read_line(process)).startswith(f"listening on {EXAMPLE_QUEUE}")
            c = world.commands
            # lea (acme): created v1; her reset v2 is refused by the broker, so parked; the
            # failed login v3 goes on
            await c.users.register("acme", "lea", UserProfile(email="lea@example.com"))
            await c.credentials.create(
                "acme", "lea", ext_id="cred-lea", policy_ext_id=None, state_name=None, actor="h"
            )
            await c.credentials.reset("acme", "lea", actor="h", idempotency=None)
            assert not await c.credentials.verify("acme", "lea", "wrong")
            # another client's event: the example's binding (acme.#) does not take it
            await c.users.register("other", "oli", UserProfile(email="oli@example.com"))
            await c.credentials.create(
                "other", "oli", ext_id="cred-oli", policy_ext_id=None, state_name=None, actor="h"
            )
            await _parked(world, late_id)
            published = await drain(world.events, 3)  # lea v1 and v3, oli v1
            assert len(published) == 3
            first = published[0]
            # the operator republishes the parked reset: it arrives after v3
            result = await asyncio.to_thread(
                run,
                ["republish", str(late_id)],
                {
                    "TEMPSTRONG_DATABASE_URL": world.database_url,
                    "TEMPSTRONG_AMQP_URL": world.amqp_url,
                },
                Path.cwd(),
            )
            assert result.returncode == 0, result.stderr
            # at least once: lea's v1 once more, as a publisher restart would send it
            exchange = await world.channel.get_exchange(EVENTS_EXCHANGE)
            await exchange.publish(
                aio_pika.Message(
                    first.body,
                    content_type=first.content_type,
                    message_id=first.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=first.routing_key,
            )
            lines = [await _read_line(process) for _ in range(4)]
            assert await asyncio.wait_for(process.wait(), LINE_TIMEOUT) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        v1, v3 = str(event_id(late_credential, 1)), str(event_id(late_credential, 3))
        prefix = "ch.nevis.idm.tempstrongpassword"
        assert lines == [
            f"applied {prefix}.created.v1 acme/cred-lea v1 {v1}",
            f"applied {prefix}.login-failed.v1 acme/cred-lea v3 {v3}",
            f"late {prefix}.reset.v1 acme/cred-lea v2 {late_id}",
            f"duplicate {prefix}.created.v1 acme/cred-lea v1 {v1}",
        ]
        # it acknowledged everything, and nothing of the other client reached its queue
        queue = await world.channel.declare_queue(EXAMPLE_QUEUE, passive=True)
        assert queue.declaration_result.message_count == 0
