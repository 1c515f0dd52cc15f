"""RabbitMQ transport: consume `tempstrong.delivery`, settle each message by the worker's outcome.

Retries wait in delay queues (one per backoff step, `x-message-ttl`), which dead-letter back to
the delivery exchange; the attempt number travels in the `x-attempt` header. Dead-lettering is
`reject(requeue=False)`, routed by the delivery queue's own `x-dead-letter-exchange`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from service.contracts.topology import DELIVERY_EXCHANGE, DELIVERY_QUEUE, DELIVERY_ROUTING_KEY
from service.observability import tracing
from service.rabbitmq.topology import declare_topology

from .metrics import DeliveryMetrics
from .worker import Action, DeliveryWorker, Incoming, Outcome

log = logging.getLogger("tempstrong.delivery.amqp")

ATTEMPT_HEADER = "x-attempt"
RETRY_QUEUE_PREFIX = "tempstrong.delivery.retry."
RECONNECT_CAP_SECONDS = 5.0
ROBUST_RECONNECT_SECONDS = 2.0
DRAIN_TIMEOUT_SECONDS = 30.0
MAX_BATCH = 64
BATCH_LOOPS = 4
GIVE_BACK_SECONDS = 1.0  # before a batch that failed unexpectedly goes back to the queue
PUBLISH_TIMEOUT_SECONDS = 10.0
# A settle that fails like this leaves the message to the broker, which redelivers it.
_SETTLE_ERRORS = (
    aio_pika.exceptions.AMQPError,
    aio_pika.exceptions.ChannelInvalidStateError,
    TimeoutError,
)
# Broker-added dead-letter history; dropped on republish so headers do not grow with every retry.
_DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-")


def retry_queue_name(delay: float) -> str:
    return f"{RETRY_QUEUE_PREFIX}{round(delay * 1000)}ms"


async def declare_retry_queues(channel: AbstractChannel, delays: list[float]) -> None:
    """Idempotent, like the contract topology; a message expires back into the delivery queue."""
    for delay in delays:
        await channel.declare_queue(
            retry_queue_name(delay),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": round(delay * 1000),
                "x-dead-letter-exchange": DELIVERY_EXCHANGE,
                "x-dead-letter-routing-key": DELIVERY_ROUTING_KEY,
                # Expired messages move with publisher confirms inside the broker: none is lost.
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )


def attempt_of(headers: dict[str, Any]) -> int:
    raw = headers.get(ATTEMPT_HEADER, 1)
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return 1


def trace_context_of(headers: dict[str, Any]) -> dict[str, str] | None:
    """The W3C trace context the publisher put in the headers, if well-formed."""
    carrier = {
        name: value.decode("ascii", "replace") if isinstance(value, bytes) else value
        for name in (tracing.TRACEPARENT, tracing.TRACESTATE)
        if (value := headers.get(name)) is not None
    }
    return tracing.valid_context(carrier)


async def connect(url: str, stop: asyncio.Event) -> AbstractRobustConnection | None:
    """Retries the first connection with backoff capped at 5 s; None if stopped meanwhile."""
    pause = 0.2
    while not stop.is_set():
        try:
            return await aio_pika.connect_robust(
                url, timeout=10, reconnect_interval=ROBUST_RECONNECT_SECONDS
            )
        except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
            log.warning("AMQP connection failed, retrying", extra={"error": type(exc).__name__})
        try:
            await asyncio.wait_for(stop.wait(), pause)
        except TimeoutError:
            pause = min(pause * 2, RECONNECT_CAP_SECONDS)
    return None


class AmqpConsumer:
    def __init__(
        self,
        worker: DeliveryWorker,
        metrics: DeliveryMetrics,
        *,
        amqp_url: str,
        prefetch: int,
        retry_delays: list[float],
        drain_timeout: float = DRAIN_TIMEOUT_SECONDS,
    ) -> None:
        self._worker = worker
        self._metrics = metrics
        self._url = amqp_url
        self._prefetch = prefetch
        self._retry_delays = sorted(retry_delays)
        self._drain_timeout = drain_timeout
        self._stopping = False
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._in_hand = 0  # received, not settled yet
        self._settled = asyncio.Event()
        self._channel: AbstractChannel | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consumes until `stop` is set, then cancels, lets in-flight messages finish, closes."""
        connection = await connect(self._url, stop)
        if connection is None:
            return
        connection.close_callbacks.add(lambda *_: self._metrics.consuming.set(0))
        connection.reconnect_callbacks.add(lambda *_: self._metrics.consuming.set(1))
        loops = [asyncio.create_task(self._batches()) for _ in range(BATCH_LOOPS)]
        try:
            queue = await self._prepare(connection)
            consumer_tag = await queue.consume(self._on_message)
            self._metrics.consuming.set(1)
            log.info("consuming", extra={"queue": DELIVERY_QUEUE, "prefetch": self._prefetch})
            await stop.wait()
            self._stopping = True
            # a channel the broker closed (a restart, a shutdown) has no consumer to cancel;
            # the messages in hand still finish
            with contextlib.suppress(*_SETTLE_ERRORS):
                await queue.cancel(consumer_tag)
            await self._drain()
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            self._metrics.consuming.set(0)
            # Closing returns any message received but not settled to the queue.
            await connection.close()

    async def _prepare(self, connection: AbstractRobustConnection) -> AbstractQueue:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        await declare_topology(channel)
        await declare_retry_queues(channel, self._retry_delays)
        self._channel = channel
        return await channel.get_queue(DELIVERY_QUEUE, ensure=True)

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(self._drain_timeout):
                while self._in_hand:
                    self._settled.clear()
                    await self._settled.wait()
        except TimeoutError:
            log.warning("stopped with messages still in flight", extra={"count": self._in_hand})

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            return  # not settled: it goes back to the queue when the connection closes
        self._in_hand += 1
        self._metrics.in_flight.inc()
        self._inbox.put_nowait(message)

    async def _batches(self) -> None:
        """Takes what has arrived (at least one message, at most MAX_BATCH) and handles it as
        one batch; several loops overlap one batch's sends with the next one's queries."""
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < MAX_BATCH and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._handle(batch)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this loop is being stopped
                # a future of the AMQP client cancelled under us (its connection dropped)
                await self._give_back(batch, "CancelledError")
            except Exception as exc:
                # a bug or an error nobody foresaw: without this the loop would end and hold
                # its batch unsettled for as long as the process lives
                log.exception("delivery batch failed unexpectedly", extra={"count": len(batch)})
                await self._give_back(batch, type(exc).__name__)
            finally:
                self._in_hand -= len(batch)
                self._metrics.in_flight.dec(len(batch))
                self._settled.set()

    async def _give_back(self, batch: list[AbstractIncomingMessage], error: str) -> None:
        """Returns the batch's unsettled messages to the queue after a pause (no hot loop)."""
        log.warning(
            "returning a failed batch to the queue", extra={"count": len(batch), "error": error}
        )
        await asyncio.sleep(GIVE_BACK_SECONDS)
        for message in batch:
            if message.processed:
                continue  # settled before the failure
            with contextlib.suppress(*_SETTLE_ERRORS, aio_pika.exceptions.MessageProcessError):
                await message.nack(requeue=True)

    async def _handle(self, batch: list[AbstractIncomingMessage]) -> None:
        headers = [dict(message.headers or {}) for message in batch]
        outcomes = await self._worker.handle_batch(
            [
                Incoming(
                    message.body,
                    message.message_id or "",
                    attempt_of(message_headers),
                    message.correlation_id,
                    trace_context_of(message_headers),
                )
                for message, message_headers in zip(batch, headers, strict=True)
            ]
        )
        await asyncio.gather(
            *(
                self._settle_quietly(message, message_headers, outcome)
                for message, message_headers, outcome in zip(batch, headers, outcomes, strict=True)
            )
        )

    async def _settle_quietly(
        self, message: AbstractIncomingMessage, headers: dict[str, Any], outcome: Outcome
    ) -> None:
        try:
            await self._settle(message, headers, outcome)
        except _SETTLE_ERRORS as exc:
            # The channel went away mid-settle: the broker redelivers, the ledger catches it.
            log.warning(
                "could not settle message",
                extra={"message_id": message.message_id, "error": type(exc).__name__},
            )

    async def _settle(
        self, message: AbstractIncomingMessage, headers: dict[str, Any], outcome: Outcome
    ) -> None:
        if outcome.action is Action.ACK:
            await message.ack()
        elif outcome.action is Action.DEAD_LETTER:
            await message.reject(requeue=False)
        else:
            try:
                await self._republish(message, headers, outcome)
            except _SETTLE_ERRORS as exc:
                # Not acked and not held for ever: requeue it once the backoff has passed.
                log.warning(
                    "could not schedule a retry",
                    extra={"message_id": message.message_id, "error": type(exc).__name__},
                )
                await asyncio.sleep(outcome.delay)
                await message.nack(requeue=True)
                return
            await message.ack()

    async def _republish(
        self, message: AbstractIncomingMessage, headers: dict[str, Any], outcome: Outcome
    ) -> None:
        assert self._channel is not None
        kept = {k: v for k, v in headers.items() if not k.startswith(_DEATH_HEADERS)}
        kept[ATTEMPT_HEADER] = outcome.next_attempt
        copy = aio_pika.Message(
            message.body,
            headers=kept,
            content_type=message.content_type,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._channel.default_exchange.publish(
            copy,
            routing_key=retry_queue_name(self._retry_step(outcome.delay)),
            mandatory=True,
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )

    def _retry_step(self, delay: float) -> float:
        """The longest declared delay not above `delay` (the shortest if all are above)."""
        fitting = [step for step in self._retry_delays if step <= delay]
        return fitting[-1] if fitting else self._retry_delays[0]
