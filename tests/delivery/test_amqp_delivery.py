"""End to end on real RabbitMQ, PostgreSQL, aiosmtpd and an HTTP SMS sink (worker in-process)."""

from __future__ import annotations

import asyncio
import io
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from nacl.public import PrivateKey
from pypdf import PdfReader

from service.config import Settings
from service.contracts.topology import (
    DEAD_QUEUE,
    DELIVERY_EXCHANGE,
    DELIVERY_QUEUE,
    DELIVERY_ROUTING_KEY,
    queue,
)
from service.delivery.amqp import ATTEMPT_HEADER, retry_queue_name
from service.delivery.backoff import Backoff
from service.eventstore.application import EventStoreApp
from service.roots.delivery import run as run_delivery
from service.security.devkeys import DevKeys
from service.security.sealing import Sealer, encode_key
from tests.support.amqp import queue_arguments
from tests.support.delivery_broker import Broker, broker_at
from tests.support.envelopes import issue, unique, unique_mobile
from tests.support.events import credential_with
from tests.support.process import free_port
from tests.support.sinks import SmsSink, SmtpSink
from tests.support.waiting import eventually

MAX_ATTEMPTS = 3
BACKOFF = Backoff(base=0.2, cap=1.0)


@dataclass
class RunningWorker:
    settings: Settings
    broker: Broker
    spool_dir: Path
    metrics_url: str

    async def sample(self, channel: str, outcome: str) -> float:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.metrics_url + "/metrics") as response,
        ):
            text = await response.text()
        prefix = f'tempstrong_deliveries_total{{channel="{channel}",outcome="{outcome}"}} '
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].removeprefix(prefix)) if lines else 0.0

    async def until_count(self, channel: str, outcome: str, target: float) -> None:
        for _ in range(200):
            if await self.sample(channel, outcome) >= target:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{channel}/{outcome} did not reach {target}")


@pytest.fixture(scope="session")
async def worker(
    amqp_url: str,
    delivery_database: str,
    pool: object,
    delivery_keys: DevKeys,
    smtp_sink: SmtpSink,
    sms_sink: SmsSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningWorker]:
    spool_dir = tmp_path_factory.mktemp("delivery-spool")
    settings = Settings(
        database_url=delivery_database,
        amqp_url=amqp_url,
        delivery_private_key=delivery_keys.delivery_private_key,
        personal_data_keys=str(delivery_keys.personal_data_keys_path),
        smtp_url=smtp_sink.url,
        sms_url=sms_sink.url,
        spool_dir=str(spool_dir),
        delivery_max_attempts=MAX_ATTEMPTS,
        metrics_port=free_port(),
        delivery_prefetch=8,
        delivery_backoff_seconds=BACKOFF.base,
        delivery_backoff_cap_seconds=BACKOFF.cap,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_delivery(settings, stop))
    metrics_url = f"http://127.0.0.1:{settings.metrics_port}"
    async with broker_at(amqp_url) as broker:
        running = RunningWorker(settings, broker, spool_dir, metrics_url)
        await _until_consuming(metrics_url, task)
        yield running
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _until_consuming(metrics_url: str, task: asyncio.Task[None]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            if task.done():
                task.result()
            try:
                async with session.get(metrics_url + "/metrics") as response:
                    if "tempstrong_delivery_consuming 1.0" in await response.text():
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the worker did not start consuming")


def code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Code:")]


async def test_email_arrives_with_the_code_on_its_own_line(
    worker: RunningWorker, sealer: Sealer, smtp_sink: SmtpSink
) -> None:
    address = f"{unique('alice')}@example.com"
    issued = issue(sealer, "Email", email=address, login_id="alice", language="de")
    await worker.broker.publish(issued)
    await eventually(lambda: smtp_sink.to(address))
    [mail] = smtp_sink.to(address)
    assert code_lines(mail.text) == [f"Code: {issued.secret}"]
    assert mail.message["Subject"] == "Ihr temporäres Passwort"


async def test_sms_sink_receives_json_with_the_code(
    worker: RunningWorker, sealer: Sealer, sms_sink: SmsSink
) -> None:
    mobile = unique_mobile()
    issued = issue(sealer, "SMS", mobile=mobile)
    await worker.broker.publish(issued)
    await eventually(lambda: sms_sink.to(mobile))
    [body] = sms_sink.to(mobile)
    assert code_lines(body["text"]) == [f"Code: {issued.secret}"]


async def test_pdf_letter_is_spooled_with_mode_0600(worker: RunningWorker, sealer: Sealer) -> None:
    issued = issue(sealer, "PDFstore", login_id="carol.pdf", version=1)
    await worker.broker.publish(issued)
    path = worker.spool_dir / issued.client_ext_id / f"{issued.user_ext_id}-1.pdf"
    await eventually(path.exists)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "carol.pdf" in text and issued.secret in text


async def test_a_duplicate_message_id_is_not_sent_twice(
    worker: RunningWorker, sealer: Sealer, smtp_sink: SmtpSink
) -> None:
    address = f"{unique('dup')}@example.com"
    issued = issue(sealer, "Email", email=address)
    before = await worker.sample("Email", "duplicate")
    await worker.broker.publish(issued)
    await eventually(lambda: smtp_sink.to(address))
    await worker.broker.publish(issued)
    await worker.broker.publish(issued)
    await worker.until_count("Email", "duplicate", before + 2)
    assert len(smtp_sink.to(address)) == 1


async def test_a_superseded_envelope_is_skipped(
    worker: RunningWorker, sealer: Sealer, smtp_sink: SmtpSink, event_store: EventStoreApp
) -> None:
    credential = await credential_with(event_store, resets=1)
    stale_to, fresh_to = f"{unique('stale')}@example.com", f"{unique('fresh')}@example.com"
    stale = issue(sealer, "Email", credential=credential, version=1, email=stale_to)
    fresh = issue(sealer, "Email", credential=credential, version=2, email=fresh_to)
    before = await worker.sample("Email", "skipped_superseded")
    await worker.broker.publish(stale)
    await worker.broker.publish(fresh)
    await eventually(lambda: smtp_sink.to(fresh_to))
    await worker.until_count("Email", "skipped_superseded", before + 1)
    assert smtp_sink.to(stale_to) == []


async def test_an_envelope_of_a_deleted_credential_is_skipped(
    worker: RunningWorker, sealer: Sealer, sms_sink: SmsSink, event_store: EventStoreApp
) -> None:
    credential = await credential_with(event_store, delete=True)
    mobile = unique_mobile()
    before = await worker.sample("SMS", "skipped_superseded")
    await worker.broker.publish(issue(sealer, "SMS", credential=credential, mobile=mobile))
    await worker.until_count("SMS", "skipped_superseded", before + 1)
    assert sms_sink.to(mobile) == []


async def test_a_channel_that_keeps_failing_ends_in_the_dead_letter_queue(
    worker: RunningWorker, sealer: Sealer, sms_sink: SmsSink
) -> None:
    mobile = unique_mobile(503)
    issued = issue(sealer, "SMS", mobile=mobile)
    await worker.broker.publish(issued)
    await _until_dead(worker.broker, issued.message_id)
    dead = worker.broker.dead[issued.message_id]
    assert dead.body == issued.body
    assert (dead.headers or {}).get(ATTEMPT_HEADER) == MAX_ATTEMPTS
    assert (dead.headers or {}).get("x-credential-id") == issued.credential_id
    assert len(sms_sink.to(mobile)) == MAX_ATTEMPTS


async def test_a_permanent_failure_is_dead_lettered_at_once(
    worker: RunningWorker, sealer: Sealer, sms_sink: SmsSink
) -> None:
    mobile = unique_mobile(400)
    issued = issue(sealer, "SMS", mobile=mobile)
    await worker.broker.publish(issued)
    await _until_dead(worker.broker, issued.message_id)
    assert ATTEMPT_HEADER not in (worker.broker.dead[issued.message_id].headers or {})
    assert len(sms_sink.to(mobile)) == 1


async def test_an_envelope_that_cannot_be_opened_is_dead_lettered(worker: RunningWorker) -> None:
    other = Sealer(encode_key(PrivateKey.generate().public_key))
    issued = issue(other, "Email", email="x@example.com")
    await worker.broker.publish(issued)
    await _until_dead(worker.broker, issued.message_id)


async def test_topology_and_retry_queues_are_in_place(worker: RunningWorker, amqp_url: str) -> None:
    declared = await asyncio.to_thread(queue_arguments, amqp_url)
    for delay in BACKOFF.delays(MAX_ATTEMPTS):
        # each retry step waits its delay, then goes back to the delivery queue
        assert declared[retry_queue_name(delay)] == {
            "x-queue-type": "quorum",
            "x-message-ttl": round(delay * 1000),
            "x-dead-letter-exchange": DELIVERY_EXCHANGE,
            "x-dead-letter-routing-key": DELIVERY_ROUTING_KEY,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
    assert declared[DELIVERY_QUEUE] == queue(DELIVERY_QUEUE).arguments
    assert declared[DEAD_QUEUE] == queue(DEAD_QUEUE).arguments


async def test_healthz_and_metrics_are_served(worker: RunningWorker) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(worker.metrics_url + "/healthz") as response:
            assert response.status == 200
        async with session.get(worker.metrics_url + "/metrics") as response:
            text = await response.text()
    assert "tempstrong_deliveries_total" in text
    assert "tempstrong_delivery_consuming 1.0" in text


async def _until_dead(broker: Broker, message_id: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while message_id not in await broker.collect_dead_letters():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{message_id} was not dead-lettered within {timeout}s")
        await asyncio.sleep(0.1)
