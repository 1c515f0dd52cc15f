"""Publish each credential event at least once, in per-credential order; never stall the stream.

A batch's events are sent at once (in waves: the first event of every credential, then the
second, ...), each confirmed by the broker. When RabbitMQ cannot be reached, or cannot take any
message (access refused, an exchange missing), the batch waits (the follower backs off): events
are delayed, never lost. An event the broker refuses, or that cannot be decoded or encoded, is
held aside with the later events of its credential (`held.py`) while every other credential's
events go on; it is retried on a short schedule and parked about 7 s after its first failure,
whether or not other events follow (the follower calls `idle` when nothing new comes). The
position moves past a batch in the transaction that also keeps its held events as held rows and
its parked events as parked rows, so a restart neither loses nor repeats them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper, Notification
from prometheus_client import CollectorRegistry, Counter

from service.domain.credential import TempStrongPassword
from service.eventstore.names import EVENTS_TABLE
from service.eventstore.notifications import notification_of
from service.postgres.schema import lock_schema

from ..folding import CredentialCache, is_published_topic, timestamp_of
from ..follower import Handled
from ..parking import PARKED_TABLE, ParkedEvent, describe, ensure_parking, hold, park, release
from ..retry_later import RetryLater
from ..tracking import advance_position, ensure_tracking, read_position
from .held import PARK_AFTER_SECONDS, Lanes, Pending
from .messages import Kind, Outgoing, messages_for, user_messages_for

PUBLISHER_NAME = "publisher"

log = logging.getLogger("tempstrong.publisher")


class BrokerUnavailable(RetryLater):
    """The broker cannot be reached or cannot take any message: nothing is a message's fault."""


class Transport(Protocol):
    """Where messages go: RabbitMQ in production, an in-process queue in dev mode."""

    async def publish(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        """Sends them at once, in order; one result per message: None once confirmed, else why
        this message was not taken (the broker refused it, or it cannot be encoded). Raises
        BrokerUnavailable when the broker is unreachable or refuses everything."""


@dataclass(frozen=True)
class HeldRow:
    """A held event as stored: its notification, and how long ago it first failed."""

    notification: Notification
    attempts: int
    reason: str
    failed_seconds_ago: float | None  # None: it waits behind an earlier event, never tried


@dataclass
class Changes:
    """What to record with the position: events held, parked, and held ones published."""

    held: list[Pending] = field(default_factory=list)  # new held events, or changed ones
    parked: list[ParkedEvent] = field(default_factory=list)
    released: list[UUID] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.held or self.parked or self.released)


class PublisherTracking(Protocol):
    async def position(self) -> int: ...

    async def held(self) -> list[HeldRow]:
        """The events held when the position moved past them, in notification order."""
        ...

    async def record(self, position: int | None, changes: Changes) -> None:
        """Moves the position (if given) and keeps the changes, atomically."""


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
        *,
        park_after: float = PARK_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracking = tracking
        self._mapper = mapper
        self._states = states
        self._transport = transport
        self._metrics = metrics
        self._park_after = park_after
        self._clock = clock
        self._lanes = Lanes()

    async def position(self) -> int:
        """Where to go on from, and the held events reloaded (at start and after an error:
        what memory held then may not have been recorded)."""
        now = self._clock()
        self._lanes = Lanes.of(_pending(row, now) for row in await self._tracking.held())
        return await self._tracking.position()

    async def handle(self, batch: Sequence[Notification]) -> Handled:
        new = [Pending(n) for n in batch if is_published_topic(n.topic)]
        await self._prefetch([p for p in new if not self._lanes.holds(p.lane)])
        for pending in new:
            self._lanes.add(pending)
        changes, newest = await self._publish_due()
        await self._tracking.record(batch[-1].id, changes)
        return self._handled(changes, newest)

    async def idle(self) -> Handled:
        """Nothing new came: retries and parks the held events that are due."""
        if not self._lanes.due(self._clock()):
            return self._handled(Changes(), None)
        changes, newest = await self._publish_due()
        if changes:
            await self._tracking.record(None, changes)
        return self._handled(changes, newest)

    def _handled(self, changes: Changes, newest: float | None) -> Handled:
        return Handled(newest, changes.parked, self._lanes.retry_in(self._clock()))

    async def _prefetch(self, new: list[Pending]) -> None:
        for pending in new:
            try:
                pending.domain_event = self._mapper.to_domain_event(pending.notification)
            except Exception:  # noqa: S112 - it fails again, and is held, when it is tried
                continue
        await self._states.prefetch(
            [p.domain_event for p in new if isinstance(p.domain_event, TempStrongPassword.Event)]
        )

    async def _publish_due(self) -> tuple[Changes, float | None]:
        """Tries every lane's head that is due, wave after wave, until none is."""
        changes = Changes()
        newest: float | None = None
        while heads := self._lanes.due(self._clock()):
            for published in await self._try(heads, changes):
                self._lanes.remove_head(published)
                if published.stored:
                    changes.released.append(published.event_id)
                if published.domain_event is not None:
                    newest = timestamp_of(published.domain_event)
        for pending in self._lanes:
            if pending.changed:
                changes.held.append(pending)
                pending.stored, pending.changed = True, False
        return changes, newest

    async def _try(self, heads: list[Pending], changes: Changes) -> list[Pending]:
        """One round trip for the heads; returns those published. The others are held, or
        parked (and removed) once they are due to be."""
        ready: list[Pending] = []
        for pending in heads:
            failure = await self._prepare(pending)
            if failure is None:
                ready.append(pending)
            else:
                self._failed(pending, failure, changes)
        messages = [message for pending in ready for message in pending.unsent or ()]
        results = await self._transport.publish(messages) if messages else []
        published: list[Pending] = []
        offset = 0
        for pending in ready:
            unsent = pending.unsent or []
            verdicts = results[offset : offset + len(unsent)]
            offset += len(unsent)
            self._count([m for m, verdict in zip(unsent, verdicts, strict=True) if verdict is None])
            refused = [(m, v) for m, v in zip(unsent, verdicts, strict=True) if v is not None]
            if not refused:
                published.append(pending)
                continue
            # what was confirmed is not sent again
            pending.unsent = [message for message, _ in refused]
            self._failed(pending, f"publish: {describe(refused[0][1])}", changes)
        return published

    async def _prepare(self, pending: Pending) -> str | None:
        """Decodes and encodes the event (once); why not, if it cannot be."""
        if pending.unsent is not None:
            return None
        try:
            if pending.domain_event is None:
                pending.domain_event = self._mapper.to_domain_event(pending.notification)
        except Exception as exc:  # whatever it is, it is this event's
            return f"decode: {describe(exc)}"
        try:
            pending.unsent = await self._messages(pending.domain_event)
        except Exception as exc:
            return f"encode: {describe(exc)}"
        return None

    async def _messages(self, domain_event: Any) -> list[Outgoing]:
        if not isinstance(domain_event, TempStrongPassword.Event):
            return user_messages_for(domain_event)  # user.erased: no credential
        credential = await self._states.after(domain_event)
        return messages_for(credential, domain_event)

    def _failed(self, pending: Pending, reason: str, changes: Changes) -> None:
        first = pending.first_failed is None
        if pending.failed(reason, self._clock(), self._park_after):
            self._lanes.remove_head(pending)
            changes.parked.append(pending.as_row(PUBLISHER_NAME, held=False))
        elif first:
            log.warning(
                "event held",
                extra={"event_id": str(pending.event_id), "reason": reason},
            )

    def _count(self, messages: Sequence[Outgoing]) -> None:
        for kind in Kind:
            sent = sum(1 for m in messages if m.kind is kind)
            if sent:
                self._metrics.published.labels(kind.value).inc(sent)


def _pending(row: HeldRow, now: float) -> Pending:
    first_failed = None if row.failed_seconds_ago is None else now - row.failed_seconds_ago
    # stored and current; a held head that failed before is tried again at once
    return Pending(
        row.notification,
        row.attempts,
        first_failed,
        row.reason,
        stored=True,
        changed=False,
    )


async def ensure_schema(pool: asyncpg.Pool) -> None:
    """The publisher's tracking row and the parked-events table (idempotent)."""
    async with pool.acquire() as connection, connection.transaction():
        await lock_schema(connection)
        await ensure_tracking(connection, PUBLISHER_NAME)
        await ensure_parking(connection)


_HELD_ROWS = f"""
SELECT p.notification_id, p.reason, p.attempts,
       CASE WHEN p.attempts > 0 THEN extract(epoch FROM now() - p.parked_at) END AS ago,
       e.originator_id, e.originator_version, e.topic, e.state
FROM {PARKED_TABLE} AS p JOIN {EVENTS_TABLE} AS e ON e.notification_id = p.notification_id
WHERE p.follower = $1 AND p.held
ORDER BY p.notification_id
"""  # noqa: S608


class PostgresTracking(PublisherTracking):
    def __init__(self, pool: asyncpg.Pool, name: str = PUBLISHER_NAME) -> None:
        self._pool = pool
        self._name = name

    async def position(self) -> int:
        return await read_position(self._pool, self._name)

    async def held(self) -> list[HeldRow]:
        return [
            HeldRow(
                notification_of(row),
                row["attempts"],
                row["reason"],
                None if row["ago"] is None else float(row["ago"]),
            )
            for row in await self._pool.fetch(_HELD_ROWS, self._name)
        ]

    async def record(self, position: int | None, changes: Changes) -> None:
        if not changes:
            if position is not None:
                await advance_position(self._pool, self._name, position)
            return
        async with self._pool.acquire() as connection, connection.transaction():
            await park(connection, changes.parked)
            await hold(connection, [p.as_row(self._name, held=True) for p in changes.held])
            await release(connection, self._name, changes.released)
            if position is not None:
                await advance_position(connection, self._name, position)


class MemoryTracking(PublisherTracking):
    """Dev mode: the in-process queue is lost on restart anyway, so is the position."""

    def __init__(self, start: int = 0) -> None:
        self._position = start
        self.parked: list[ParkedEvent] = []
        self._held: dict[UUID, HeldRow] = {}

    async def position(self) -> int:
        return self._position

    async def held(self) -> list[HeldRow]:
        return sorted(self._held.values(), key=lambda row: row.notification.id)

    async def record(self, position: int | None, changes: Changes) -> None:
        self.parked.extend(changes.parked)
        for event in changes.parked:
            self._held.pop(event.event_id, None)
        for event_id in changes.released:
            self._held.pop(event_id, None)
        for pending in changes.held:
            # after an error the held ones are retried at once, their deadline counted afresh
            ago = None if pending.attempts == 0 else 0.0
            self._held[pending.event_id] = HeldRow(
                pending.notification, pending.attempts, pending.reason, ago
            )
        if position is not None:
            self._position = max(self._position, position)


LoadCredential = Callable[[UUID, int], Awaitable[TempStrongPassword]]
