"""RabbitMQ transport of the publisher: publisher confirms, mandatory envelopes, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from service.messaging.topology import (
    DELIVERY_EXCHANGE,
    DELIVERY_ROUTING_KEY,
    EVENTS_EXCHANGE,
    declare_topology,
)

from .cloudevents import CONTENT_TYPE

PUBLISH_TIMEOUT_SECONDS = 10.0


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

    async def publish_events(self, messages: Sequence[tuple[str, str, bytes]]) -> None:
        events, _ = await self._ensure()
        await self._confirm_all(
            events.publish(
                aio_pika.Message(
                    body,
                    content_type=CONTENT_TYPE,
                    message_id=message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=key,
                # aio-pika defaults to mandatory: an event nobody is bound to yet is not an error
                mandatory=False,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            for key, message_id, body in messages
        )

    async def publish_envelopes(self, envelopes: Sequence[tuple[str, str, bytes]]) -> None:
        _, delivery = await self._ensure()
        await self._confirm_all(
            delivery.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    message_id=message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers={"x-credential-id": credential_id},
                ),
                routing_key=DELIVERY_ROUTING_KEY,
                mandatory=True,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            for message_id, credential_id, body in envelopes
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
