"""Publish each credential event at least once, in per-credential order; never stall the stream.

A batch is published in notification order; the position advances only after the broker
confirmed every message of the batch. When RabbitMQ is unreachable the batch waits (the follower
backs off): events are delayed, never lost. An event that cannot be published (it does not
decode, or the broker refuses it while it accepts the others) is retried a bounded number of
times, then parked with the reason, in the same transaction that moves the position past it:
one event never stops the stream for every client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper, Notification
from prometheus_client import CollectorRegistry, Counter

from service.domain.credential import TempStrongPassword
from service.postgres.schema import lock_schema

from ..folding import (
    CredentialCache,
    decode_credential_events,
    is_published_topic,
    timestamp_of,
)
from ..follower import Handled
from ..parking import FailureCounter, ParkedEvent, ensure_parking, park
from ..retry_later import RetryLater
from ..tracking import advance_position, ensure_tracking, read_position
from .messages import Kind, Outgoing, messages_for, user_messages_for

PUBLISHER_NAME = "publisher"


class BrokerUnavailable(RetryLater):
    """The broker cannot be reached or stopped answering: nothing is the message's fault."""


class Transport(Protocol):
    """Where messages go: RabbitMQ in production, an in-process queue in dev mode."""

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """All of them, confirmed before returning. Raises BrokerUnavailable when the broker is
        unreachable; any other exception means the broker refused (or nothing could encode)
        a message."""


class PublisherTracking(Protocol):
    async def position(self) -> int: ...

    async def record(self, position: int, parked: Sequence[ParkedEvent]) -> None:
        """Moves the position and keeps the parked events, atomically."""


class PublisherMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "tempstrong_published_total",
            "Messages confirmed by the broker, by kind (event, envelope)",
            ["kind"],
            registry=registry,
        )


class PublisherSink:
    name = PUBLISHER_NAME

    def __init__(
        self,
        tracking: PublisherTracking,
        mapper: Mapper[UUID],
        states: CredentialCache,
        transport: Transport,
        metrics: PublisherMetrics,
        failures: FailureCounter | None = None,
    ) -> None:
        self._tracking = tracking
        self._mapper = mapper
        self._states = states
        self._transport = transport
        self._metrics = metrics
        self._failures = failures or FailureCounter(PUBLISHER_NAME)

    async def position(self) -> int:
        return await self._tracking.position()

    async def handle(self, batch: Sequence[Notification]) -> Handled:
        decoded, parked = decode_credential_events(
            self._mapper, batch, self._failures, is_published_topic
        )
        credential_events = [e for _, e in decoded if isinstance(e, TempStrongPassword.Event)]
        await self._states.prefetch(credential_events)
        ready: list[tuple[Notification, list[Outgoing]]] = []
        newest: float | None = None
        for notification, domain_event in decoded:
            try:
                if isinstance(domain_event, TempStrongPassword.Event):
                    credential = await self._states.after(domain_event)
                    outgoing = messages_for(credential, domain_event)
                else:
                    outgoing = user_messages_for(domain_event)
                ready.append((notification, outgoing))
                newest = timestamp_of(domain_event)
            except Exception as exc:  # whatever it is, it is this event's
                parked.append(self._failures.failed(notification, "encode", exc))
        await self._publish(ready, parked)
        await self._tracking.record(batch[-1].id, parked)
        self._failures.forget_upto(batch[-1].id)
        return Handled(newest, parked)

    async def _publish(
        self, ready: list[tuple[Notification, list[Outgoing]]], parked: list[ParkedEvent]
    ) -> None:
        messages = [message for _, outgoing in ready for message in outgoing]
        if not messages:
            return
        try:
            await self._transport.publish(messages)
        except BrokerUnavailable:
            raise
        except Exception:
            await self._isolate(ready, parked)
        else:
            self._count(messages)

    async def _isolate(
        self, ready: list[tuple[Notification, list[Outgoing]]], parked: list[ParkedEvent]
    ) -> None:
        """Publishes event by event to find the one the broker refuses."""
        refused: list[tuple[Notification, Exception]] = []
        for notification, outgoing in ready:
            try:
                await self._transport.publish(outgoing)
            except BrokerUnavailable:
                raise
            except Exception as exc:
                refused.append((notification, exc))
            else:
                self._count(outgoing)
        if refused and len(refused) == len(ready):
            # It refuses everything: the broker's state (permissions, a missing exchange), not
            # an event's fault. Nothing is parked; the follower backs off and tries again.
            raise BrokerUnavailable(f"the broker refused all {len(ready)} events of the batch")
        for notification, refusal in refused:
            parked.append(self._failures.failed(notification, "publish", refusal))

    def _count(self, messages: Sequence[Outgoing]) -> None:
        for kind in Kind:
            sent = sum(1 for m in messages if m.kind is kind)
            if sent:
                self._metrics.published.labels(kind.value).inc(sent)


async def ensure_schema(pool: asyncpg.Pool) -> None:
    """The publisher's tracking row and the parked-events table (idempotent)."""
    async with pool.acquire() as connection, connection.transaction():
        await lock_schema(connection)
        await ensure_tracking(connection, PUBLISHER_NAME)
        await ensure_parking(connection)


class PostgresTracking(PublisherTracking):
    def __init__(self, pool: asyncpg.Pool, name: str = PUBLISHER_NAME) -> None:
        self._pool = pool
        self._name = name

    async def position(self) -> int:
        return await read_position(self._pool, self._name)

    async def record(self, position: int, parked: Sequence[ParkedEvent]) -> None:
        if not parked:
            await advance_position(self._pool, self._name, position)
            return
        async with self._pool.acquire() as connection, connection.transaction():
            await park(connection, list(parked))
            await advance_position(connection, self._name, position)


class MemoryTracking(PublisherTracking):
    """Dev mode: the in-process queue is lost on restart anyway, so is the position."""

    def __init__(self, start: int = 0) -> None:
        self._position = start
        self.parked: list[ParkedEvent] = []

    async def position(self) -> int:
        return self._position

    async def record(self, position: int, parked: Sequence[ParkedEvent]) -> None:
        self.parked.extend(parked)
        self._position = max(self._position, position)


LoadCredential = Callable[[UUID, int], Awaitable[TempStrongPassword]]
