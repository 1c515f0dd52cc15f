"""RabbitMQ transport of the publisher: publisher confirms, mandatory envelopes, reconnects.

What the broker says about one message is that message's result: a nack (`DeliveryError`, e.g.
a queue at its length limit that rejects publishes), a returned mandatory envelope
(`PublishError`), a channel it closed with 406 PRECONDITION_FAILED (a message over its size
limit; every message in flight on that channel fails with it, so those are sent again one by
one to find the one at fault). What says the broker or the connection is unusable raises
BrokerUnavailable, and no message is blamed: the connection lost or timing out, 403 ACCESS_REFUSED
or 404 NOT_FOUND (an exchange missing) closing the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from opentelemetry.trace import SpanKind

from service.contracts.cloudevents import CONTENT_TYPE
from service.contracts.envelope import ENVELOPE_CONTENT_TYPE
from service.contracts.topology import (
    CORRELATION_HEADER,
    CREDENTIAL_HEADER,
    DELIVERY_EXCHANGE,
    DELIVERY_MODE,
    DELIVERY_ROUTING_KEY,
    ENVELOPES_MANDATORY,
    EVENTS_EXCHANGE,
    EVENTS_MANDATORY,
)
from service.observability import tracing
from service.rabbitmq.topology import declare_topology

from .messages import Kind, Outgoing
from .sink import BrokerUnavailable

PUBLISH_TIMEOUT_SECONDS = 10.0
# The broker is away or stopped answering: not a verdict on any message.
_UNREACHABLE = (
    aio_pika.exceptions.AMQPConnectionError,
    aio_pika.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    TimeoutError,
    asyncio.CancelledError,  # a confirm's future, cancelled when its connection dropped
)
# The broker closed the channel for one message; the others in flight on it failed with it
# (a subclass of AMQPChannelError, so tested first).
_CLOSED_BY_A_MESSAGE = aiormq.exceptions.ChannelPreconditionFailed
# Any other channel error (403, 404, a topology that does not match) is the broker's state.
_UNUSABLE = (*_UNREACHABLE, aio_pika.exceptions.AMQPChannelError)


class AmqpTransport:
    """Connects lazily; after any failure the next call reconnects (the follower backs off)."""

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[Kind, AbstractExchange] = {}

    async def publish(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        """Every message in flight at once on one channel (order kept), then every confirm."""
        try:
            results = await self._send(messages)
            if any(isinstance(result, _CLOSED_BY_A_MESSAGE) for result in results):
                for index, result in enumerate(results):
                    if isinstance(result, _UNUSABLE):
                        # alone on a fresh channel, its own verdict
                        (results[index],) = await self._send([messages[index]])
            return results
        except BaseException as exc:
            await self.close()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the publisher is being stopped
            if isinstance(exc, _UNUSABLE):
                raise BrokerUnavailable(f"RabbitMQ unavailable ({type(exc).__name__})") from exc
            raise

    async def _send(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        exchanges = await self._ensure()
        results: list[BaseException | None] = list(
            await asyncio.gather(
                *(self._publish_one(exchanges[m.kind], m) for m in messages),
                return_exceptions=True,
            )
        )
        if any(isinstance(result, _CLOSED_BY_A_MESSAGE) for result in results):
            await self.close()  # the broker closed the channel: the next send opens another
            if len(messages) > 1:
                return results  # the one at fault is not known yet
        for result in results:
            if not isinstance(result, _CLOSED_BY_A_MESSAGE) and isinstance(result, _UNUSABLE):
                raise result
        return results

    async def _ensure(self) -> dict[Kind, AbstractExchange]:
        if self._channel is None or self._channel.is_closed or not self._exchanges:
            await self.close()
            self._connection = await aio_pika.connect(self._amqp_url, timeout=5)
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            await declare_topology(self._channel)
            self._exchanges = {
                Kind.EVENT: await self._channel.get_exchange(EVENTS_EXCHANGE),
                Kind.ENVELOPE: await self._channel.get_exchange(DELIVERY_EXCHANGE),
            }
        return self._exchanges

    @staticmethod
    async def _publish_one(exchange: AbstractExchange, message: Outgoing) -> None:
        headers: dict[str, Any] = {}
        if message.kind is Kind.ENVELOPE:
            headers[CREDENTIAL_HEADER] = message.route
        if message.correlation_id is not None:
            headers[CORRELATION_HEADER] = message.correlation_id
        envelope = message.kind is Kind.ENVELOPE
        # a span per message until its confirm, a child of the request that stored the event
        with tracing.span(
            f"{exchange.name} publish",
            SpanKind.PRODUCER,
            parent=message.trace_context,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "send",
                "messaging.destination.name": exchange.name,
                "messaging.message.id": message.message_id,
            },
        ):
            tracing.inject(headers)
            await exchange.publish(
                aio_pika.Message(
                    message.body,
                    content_type=ENVELOPE_CONTENT_TYPE if envelope else CONTENT_TYPE,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    headers=headers or None,
                    delivery_mode=aio_pika.DeliveryMode(DELIVERY_MODE),
                ),
                routing_key=DELIVERY_ROUTING_KEY if envelope else message.route,
                # an envelope must reach the delivery queue; an event nobody is bound to yet is
                # fine
                mandatory=ENVELOPES_MANDATORY if envelope else EVENTS_MANDATORY,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = None
        self._exchanges = {}
        if connection is not None and not connection.is_closed:
            # closing a broken connection may fail too; it is gone either way
            with contextlib.suppress(Exception):
                await connection.close()
