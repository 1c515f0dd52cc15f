"""RabbitMQ transport of the publisher: publisher confirms, mandatory envelopes, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from service.correlation import CORRELATION_HEADER
from service.messaging.topology import (
    DELIVERY_EXCHANGE,
    DELIVERY_ROUTING_KEY,
    EVENTS_EXCHANGE,
    declare_topology,
)

from .cloudevents import CONTENT_TYPE
from .publisher import Outgoing

PUBLISH_TIMEOUT_SECONDS = 10.0


def _correlation(message: Outgoing, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The AMQP `correlation_id` property and the `x-correlation-id` header (when there is one)."""
    headers = dict(headers or {})
    if message.correlation_id is None:
        return {"headers": headers} if headers else {}
    headers[CORRELATION_HEADER] = message.correlation_id
    return {"correlation_id": message.correlation_id, "headers": headers}


class AmqpTransport:
    """Connects lazily; after any failure the next call reconnects (the follower backs off)."""

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._events: AbstractExchange | None = None
        self._delivery: AbstractExchange | None = None

    async def _ensure(self) -> tuple[AbstractExchange, AbstractExchange]:
        if self._channel is None or self._channel.is_closed or self._events is None:
            await self.close()
            self._connection = await aio_pika.connect(self._amqp_url, timeout=5)
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            await declare_topology(self._channel)
            self._events = await self._channel.get_exchange(EVENTS_EXCHANGE)
            self._delivery = await self._channel.get_exchange(DELIVERY_EXCHANGE)
        assert self._events is not None and self._delivery is not None
        return self._events, self._delivery

    async def publish_events(self, messages: Sequence[Outgoing]) -> None:
        events, _ = await self._ensure()
        await self._confirm_all(
            events.publish(
                aio_pika.Message(
                    message.body,
                    content_type=CONTENT_TYPE,
                    message_id=message.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    **_correlation(message),
                ),
                routing_key=message.route,
                # aio-pika defaults to mandatory: an event nobody is bound to yet is not an error
                mandatory=False,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            for message in messages
        )

    async def publish_envelopes(self, envelopes: Sequence[Outgoing]) -> None:
        _, delivery = await self._ensure()
        await self._confirm_all(
            delivery.publish(
                aio_pika.Message(
                    envelope.body,
                    content_type="application/json",
                    message_id=envelope.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    **_correlation(envelope, {"x-credential-id": envelope.route}),
                ),
                routing_key=DELIVERY_ROUTING_KEY,
                mandatory=True,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            for envelope in envelopes
        )

    async def _confirm_all(self, publishes) -> None:  # type: ignore[no-untyped-def]
        try:
            await asyncio.gather(*publishes)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._events = self._delivery = None
        if connection is not None and not connection.is_closed:
            # closing a broken connection may fail too; it is gone either way
            with contextlib.suppress(Exception):
                await connection.close()
