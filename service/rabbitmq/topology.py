"""Declares the topology of service/contracts/topology.py on a channel; idempotent.

Every process that owns a broker connection (the publisher, the delivery worker, `migrate`)
declares it, so none depends on another having run first.
"""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel

from ..contracts.topology import EXCHANGES, QUEUES


async def declare_topology(channel: AbstractChannel) -> None:
    for row in EXCHANGES:
        await channel.declare_exchange(
            row.name, aio_pika.ExchangeType(row.type.value), durable=row.durable
        )
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
