"""Publish each credential event at least once, in per-credential order; never stall the stream.

A batch is published in notification order; the position advances only after the broker
confirmed every message of the batch. When RabbitMQ is unreachable the batch waits (the follower
backs off): events are delayed, never lost. An event that cannot be published (it does not
decode, or the broker refuses it while it accepts the others) is retried a bounded number of
times, then parked with the reason, in the same transaction that moves the position past it:
one event never stops the stream for every client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper, Notification
from prometheus_client import CollectorRegistry, Counter, Gauge

from service.domain.credential import TempStrongPassword

from ..credential_states import CredentialCache, is_credential_topic, timestamp_of
from ..follower import BackOff
from ..tracking import advance_position, ensure_tracking, lock_schema, read_position
from .messages import Kind, Outgoing, messages_for
from .parking import ParkedEvent, ensure_parking, park

PUBLISHER_NAME = "publisher"
MAX_EVENT_ATTEMPTS = 5
# An event is parked only after failing for this long too: a broker that refuses messages for a
# few seconds (an alarm, a restart) must not park events that would go through a moment later.
MIN_SECONDS_BEFORE_PARKING = 10.0

log = logging.getLogger("tempstrong.publisher")


class BrokerUnavailable(BackOff):
    """The broker cannot be reached or stopped answering: nothing is the message's fault."""


class EventNotPublished(BackOff):
    """An event failed; the batch is retried (after the follower's backoff) until it is parked."""


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
        self.parked = Counter(
            "tempstrong_publisher_parked_total",
            "Events the publisher gave up on and parked (see tempstrong republish)",
            registry=registry,
        )
        self.parked_waiting = Gauge(
            "tempstrong_publisher_parked_events",
            "Parked events not republished yet",
            registry=registry,
        )


@dataclass
class _Attempts:
    count: int
    first: float


class PublisherSink:
    name = PUBLISHER_NAME

    def __init__(
        self,
        tracking: PublisherTracking,
        mapper: Mapper[UUID],
        states: CredentialCache,
        transport: Transport,
        metrics: PublisherMetrics,
        *,
        max_attempts: int = MAX_EVENT_ATTEMPTS,
        min_seconds_before_parking: float = MIN_SECONDS_BEFORE_PARKING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracking = tracking
        self._mapper = mapper
        self._states = states
        self._transport = transport
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._min_seconds = min_seconds_before_parking
        self._clock = clock
        self._attempts: dict[int, _Attempts] = {}

    async def position(self) -> int:
        return await self._tracking.position()

    async def handle(self, batch: Sequence[Notification]) -> float | None:
        ready: list[tuple[Notification, list[Outgoing]]] = []
        parked: list[ParkedEvent] = []
        newest: float | None = None
        for notification in batch:
            if not is_credential_topic(notification.topic):
                continue
            try:
                domain_event = self._mapper.to_domain_event(notification)
                credential = await self._states.after(domain_event)
                ready.append((notification, messages_for(credential, domain_event)))
                newest = timestamp_of(domain_event)
            except Exception as exc:  # whatever it is, it is this event's
                parked.append(self._failed(notification, "encode", exc))
        await self._publish(ready, parked)
        await self._tracking.record(batch[-1].id, parked)
        self._forget_attempts_upto(batch[-1].id)
        for event in parked:
            self._metrics.parked.inc()
            log.warning(
                "event parked",
                extra={"event_id": str(event.event_id), "reason": event.reason},
            )
        return newest

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
            raise EventNotPublished(f"the broker refused all {len(ready)} events of the batch")
        for notification, refusal in refused:
            parked.append(self._failed(notification, "publish", refusal))

    def _failed(self, notification: Notification, stage: str, exc: Exception) -> ParkedEvent:
        """The event to park once it failed often and long enough; else EventNotPublished."""
        now = self._clock()
        attempts = self._attempts.setdefault(notification.id, _Attempts(0, now))
        attempts.count += 1
        reason = f"{stage}: {_describe(exc)}"
        if attempts.count < self._max_attempts or now - attempts.first < self._min_seconds:
            raise EventNotPublished(
                f"notification {notification.id} not published ({reason}), attempt {attempts.count}"
            )
        return ParkedEvent(
            notification.id,
            UUID(str(notification.originator_id)),
            notification.originator_version,
            notification.topic,
            reason,
            attempts.count,
        )

    def _forget_attempts_upto(self, position: int) -> None:
        for notification_id in [n for n in self._attempts if n <= position]:
            del self._attempts[notification_id]

    def _count(self, messages: Sequence[Outgoing]) -> None:
        for kind in Kind:
            sent = sum(1 for m in messages if m.kind is kind)
            if sent:
                self._metrics.published.labels(kind.value).inc(sent)


def _describe(exc: Exception) -> str:
    """The exception's type, and its text only where it names an encoding limit (no data)."""
    if isinstance(exc, TypeError | ValueError) and "exceeds" in str(exc):
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return type(exc).__name__


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
