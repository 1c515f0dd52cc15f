"""Publishes envelopes the way the publisher does, and reads the dead-letter queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel

from service.contracts.topology import DEAD_QUEUE, DELIVERY_EXCHANGE, DELIVERY_ROUTING_KEY
from service.rabbitmq.topology import declare_topology
from tests.support.envelopes import Issued


class Broker:
    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self.dead: dict[str, aio_pika.abc.AbstractIncomingMessage] = {}

    async def publish(self, issued: Issued) -> None:
        exchange = await self._channel.get_exchange(DELIVERY_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                issued.body,
                content_type="application/json",
                message_id=issued.message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers={"x-credential-id": issued.credential_id},
            ),
            routing_key=DELIVERY_ROUTING_KEY,
            mandatory=True,
        )

    async def collect_dead_letters(self) -> dict[str, Any]:
        """Moves whatever is in the dead-letter queue into `dead` (by message_id)."""
        queue = await self._channel.get_queue(DEAD_QUEUE)
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            self.dead[message.message_id or ""] = message
            await message.ack()
        return self.dead

    async def queue_depth(self, name: str) -> int:
        queue = await self._channel.declare_queue(name, passive=True)
        count = queue.declaration_result.message_count
        return int(count or 0)


@asynccontextmanager
async def broker_at(amqp_url: str) -> AsyncIterator[Broker]:
    connection = await aio_pika.connect_robust(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel)
        yield Broker(channel)
