"""The AMQP topology of SPEC sections 4 and 5; declaring it is idempotent."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel

EVENTS_EXCHANGE = "tempstrong.events"
DELIVERY_EXCHANGE = "tempstrong.delivery"
DELIVERY_QUEUE = "tempstrong.delivery"
DELIVERY_ROUTING_KEY = "delivery"
DEAD_EXCHANGE = "tempstrong.delivery.dead"
DEAD_QUEUE = "tempstrong.delivery.dead"
# Headers every message carries where it applies (the CloudEvent body stays the contract's own).
CORRELATION_HEADER = "x-correlation-id"  # the request id that caused the event
CREDENTIAL_HEADER = "x-credential-id"  # on envelopes: the credential's aggregate id


async def declare_topology(channel: AbstractChannel) -> None:
    await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    dead = await channel.declare_exchange(DEAD_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
    dead_queue = await channel.declare_queue(
        DEAD_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead)
    delivery = await channel.declare_exchange(
        DELIVERY_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    queue = await channel.declare_queue(
        DELIVERY_QUEUE,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-dead-letter-exchange": DEAD_EXCHANGE},
    )
    await queue.bind(delivery, routing_key=DELIVERY_ROUTING_KEY)


async def declare_topology_at(amqp_url: str) -> None:
    connection = await aio_pika.connect_robust(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
