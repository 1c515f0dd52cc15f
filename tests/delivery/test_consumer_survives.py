"""A batch that fails in a way nobody foresaw goes back to the queue, and the consumer goes on.

Before, the exception (or a CancelledError from a future of the AMQP client whose connection
dropped) ended the batch loop: its messages stayed unacknowledged for as long as the worker
lived, and the chaos soak found one such envelope that never became a mail."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aio_pika
import pytest

from service.contracts.topology import DELIVERY_EXCHANGE, DELIVERY_ROUTING_KEY
from service.delivery import amqp
from service.delivery.amqp import AmqpConsumer
from service.delivery.metrics import DeliveryMetrics
from service.delivery.worker import Incoming, Outcome
from tests.support.amqp import create_vhost, delete_vhost


class FailsFirst:
    """A worker whose first batch raises `failure`; later batches are acknowledged."""

    def __init__(self, failure: BaseException) -> None:
        self._failure: BaseException | None = failure
        self.acked: list[str] = []

    async def handle_batch(self, messages: Sequence[Incoming]) -> list[Outcome]:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        self.acked.extend(m.message_id for m in messages)
        return [Outcome.ack() for _ in messages]


@pytest.fixture
async def amqp_url(monkeypatch):
    monkeypatch.setattr(amqp, "GIVE_BACK_SECONDS", 0.1)
    vhost, url = await asyncio.to_thread(create_vhost)
    yield url
    await asyncio.to_thread(delete_vhost, vhost)


@pytest.mark.parametrize(
    "failure", [RuntimeError("a bug"), asyncio.CancelledError()], ids=["exception", "cancelled"]
)
async def test_a_failed_batch_is_redelivered_and_the_consumer_goes_on(amqp_url, failure):
    worker = FailsFirst(failure)
    consumer = AmqpConsumer(
        worker,  # type: ignore[arg-type]
        DeliveryMetrics(),
        amqp_url=amqp_url,
        prefetch=8,
        retry_delays=[0.5],
    )
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    ids = [f"message-{n}" for n in range(3)]
    connection = await aio_pika.connect(amqp_url)
    try:
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            for _ in range(100):  # until the consumer has declared the topology
                try:
                    exchange = await channel.get_exchange(DELIVERY_EXCHANGE)
                    break
                except aio_pika.exceptions.ChannelClosed:
                    channel = await connection.channel(publisher_confirms=True)
                    await asyncio.sleep(0.1)
            for message_id in ids:
                await exchange.publish(
                    aio_pika.Message(b"{}", message_id=message_id),
                    routing_key=DELIVERY_ROUTING_KEY,
                )
            for _ in range(100):
                if sorted(set(worker.acked)) == ids:
                    break
                await asyncio.sleep(0.1)
            assert sorted(set(worker.acked)) == ids
            queue = await channel.declare_queue("tempstrong.delivery", passive=True)
            assert queue.declaration_result.message_count == 0
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
