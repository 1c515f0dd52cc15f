"""RabbitMQ transport of the publisher: publisher confirms, mandatory envelopes, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
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
)


class AmqpTransport:
    """Connects lazily; after any failure the next call reconnects (the follower backs off)."""

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[Kind, AbstractExchange] = {}

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Every message in flight at once on one channel (order kept), then every confirm."""
        try:
            exchanges = await self._ensure()
            await asyncio.gather(*(self._publish_one(exchanges[m.kind], m) for m in messages))
        except BaseException as exc:
            await self.close()
            if isinstance(exc, _UNREACHABLE):
                raise BrokerUnavailable(f"RabbitMQ unavailable ({type(exc).__name__})") from exc
            raise

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
