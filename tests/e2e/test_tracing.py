"""One trace from the reset request to the mail, exported over OTLP/HTTP by the real processes
(api, publisher, delivery worker) to a receiver on loopback, and joined by a downstream consumer
through the CloudEvent's `traceparent`."""

from __future__ import annotations

import json
import re
import secrets

import aio_pika
import pytest

from service.contracts.topology import EVENTS_EXCHANGE
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.stack import eventually, running_stack

CODE_LINE = re.compile(r"^Code: (\S+)\r?$", re.MULTILINE)
SERVER, PRODUCER, CONSUMER = 2, 4, 5  # opentelemetry.proto.trace.v1.Span.SpanKind


@pytest.fixture
async def receiver():
    otlp = OtlpReceiver()
    await otlp.start()
    yield otlp
    await otlp.close()


def _one(spans: list[ReceivedSpan], **expected: object) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in expected.items())]
    assert len(found) == 1, (expected, spans)
    return found[0]


async def test_a_reset_is_one_trace_from_the_request_to_the_mail(tmp_path, receiver):
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    async with running_stack(tmp_path, otel) as stack:
        connection = await aio_pika.connect(stack.amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(EVENTS_EXCHANGE, "acme.tempstrongpassword.reset")
            session, email = stack.session, "trace@example.com"
            async with session.post(
                f"{stack.base}/users", json={"extId": "tracy", "email": email}
            ) as r:
                assert r.status == 201
            async with session.post(f"{stack.base}/users/tracy/tempstrong-password") as r:
                assert r.status == 201
            # the first mail out before the reset (else the reset supersedes it)
            await eventually(lambda: stack.smtp.to(email))
            # the caller is itself traced: the reset joins the caller's trace
            trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
            async with session.post(
                f"{stack.base}/users/tracy/tempstrong-password/reset",
                headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
            ) as r:
                assert r.status == 200
                fragment0 = (await r.json())["tempStrongPassword"]
            mails = await eventually(
                lambda: len(stack.smtp.to(email)) >= 2 and stack.smtp.to(email)
            )
            fragment1 = CODE_LINE.findall(mails[-1].text)[0]
            message = await queue.get(timeout=10)
            await message.ack()

        in_trace = lambda: [s for s in receiver.spans if s.trace_id == trace_id]  # noqa: E731
        await eventually(lambda: any(s.name.endswith(" deliver") for s in in_trace()))

    spans = in_trace()
    server = _one(spans, kind=SERVER, service="tempstrong-api")
    assert server.parent_span_id == caller_span
    append = _one(spans, name="tempstrong.eventstore append")
    assert append.parent_span_id == server.span_id
    # the batch the append was committed in links back to it (it ran in the writer's task)
    commits = [s for s in receiver.named("tempstrong.eventstore group commit")]
    assert any((trace_id, append.span_id) in commit.links for commit in commits)
    envelope = _one(spans, name="tempstrong.delivery publish", service="tempstrong-publisher")
    event = _one(spans, name="tempstrong.events publish", service="tempstrong-publisher")
    assert envelope.kind == event.kind == PRODUCER
    assert envelope.parent_span_id == event.parent_span_id == append.span_id
    deliver = _one(spans, name="Email deliver", service="tempstrong-delivery")
    assert deliver.kind == CONSUMER and deliver.parent_span_id == envelope.span_id

    # a consumer joins the trace: the CloudEvent carries the context the event was stored
    # under (distributed-tracing extension), the message headers the publisher's span
    cloud_event = json.loads(message.body)
    assert cloud_event["traceparent"] == f"00-{trace_id}-{append.span_id}-01"
    assert message.headers["traceparent"] == f"00-{trace_id}-{event.span_id}-01"

    exported = b"".join(receiver.raw)
    for secret in (fragment0, fragment1, fragment0 + fragment1):
        assert secret.encode() not in exported
