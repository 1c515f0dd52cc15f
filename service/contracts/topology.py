"""The AMQP topology of SPEC sections 4 and 5; declaring it is idempotent.

The exchanges and queues are data (`EXCHANGES`, `QUEUES`): `declare_topology` declares them and
the AsyncAPI document (asyncapi.py) describes them, from the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
# How the publisher sends: every message persistent; an envelope `mandatory` (it must reach the
# delivery queue), an event not (an event nobody is bound to yet is fine).
DELIVERY_MODE = aio_pika.DeliveryMode.PERSISTENT
EVENTS_MANDATORY = False
ENVELOPES_MANDATORY = True


@dataclass(frozen=True)
class Exchange:
    name: str
    type: aio_pika.ExchangeType
    durable: bool = True


@dataclass(frozen=True)
class Queue:
    name: str
    exchange: str
    routing_key: str | None  # None: a fanout binding
    arguments: dict[str, str] = field(default_factory=dict)
    durable: bool = True


EXCHANGES = (
    Exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC),
    Exchange(DEAD_EXCHANGE, aio_pika.ExchangeType.FANOUT),
    Exchange(DELIVERY_EXCHANGE, aio_pika.ExchangeType.DIRECT),
)
QUEUES = (
    Queue(DEAD_QUEUE, DEAD_EXCHANGE, None, {"x-queue-type": "quorum"}),
    Queue(
        DELIVERY_QUEUE,
        DELIVERY_EXCHANGE,
        DELIVERY_ROUTING_KEY,
        {"x-queue-type": "quorum", "x-dead-letter-exchange": DEAD_EXCHANGE},
    ),
)


def exchange(name: str) -> Exchange:
    return next(e for e in EXCHANGES if e.name == name)


def queue(name: str) -> Queue:
    return next(q for q in QUEUES if q.name == name)


async def declare_topology(channel: AbstractChannel) -> None:
    for row in EXCHANGES:
        await channel.declare_exchange(row.name, row.type, durable=row.durable)
    for q in QUEUES:
        declared = await channel.declare_queue(
            q.name, durable=q.durable, arguments=dict(q.arguments)
        )
        await declared.bind(q.exchange, routing_key=q.routing_key)


async def declare_topology_at(amqp_url: str) -> None:
    connection = await aio_pika.connect_robust(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
