"""The AMQP topology of the events and the delivery envelopes, as data.

The exchanges and queues are rows (`EXCHANGES`, `QUEUES`): the code that owns a broker
connection declares them (service/rabbitmq/topology.py) and the AsyncAPI document (asyncapi.py)
describes them, from the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

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
DELIVERY_MODE = 2  # AMQP 0-9-1 delivery-mode 2: persistent
EVENTS_MANDATORY = False
ENVELOPES_MANDATORY = True


class ExchangeType(StrEnum):
    """AMQP 0-9-1 exchange types."""

    TOPIC = "topic"
    DIRECT = "direct"
    FANOUT = "fanout"


@dataclass(frozen=True)
class Exchange:
    name: str
    type: ExchangeType
    durable: bool = True


@dataclass(frozen=True)
class Queue:
    name: str
    exchange: str
    routing_key: str | None  # None: a fanout binding
    arguments: dict[str, str] = field(default_factory=dict)
    durable: bool = True


EXCHANGES = (
    Exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC),
    Exchange(DEAD_EXCHANGE, ExchangeType.FANOUT),
    Exchange(DELIVERY_EXCHANGE, ExchangeType.DIRECT),
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
