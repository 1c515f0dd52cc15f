"""Events a follower gave up on: parked with the reason, so its stream goes on.

Whatever the cause (an event that does not decode, a message the broker refuses), one event
never stops a follower for every client: it is retried a bounded number of times and for a
bounded while, then parked in the same transaction that moves the follower's position past it,
counted and logged once with its id. The publisher's parked events can be published again with
`tempstrong republish <event id>` (late: consumers order by `data.version`); the projector's are
applied by `tempstrong rebuild credentials` once the code can decode them.

The publisher also keeps *held* rows here: events it set aside (refused, or waiting behind a
refused event of their credential) while its position moved on. A held row is written in the
transaction that moves the position past its event, and deleted once the event is published or
turned into a parked row; a publisher that restarts reloads them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Notification

from service.domain.ids import event_id

from .retry_later import RetryLater

PARKED_TABLE = "parked_events"
MAX_EVENT_ATTEMPTS = 5
# An event is parked only after failing for this long too: a broker that refuses messages for a
# few seconds (an alarm, a restart) must not park events that would go through a moment later.
MIN_SECONDS_BEFORE_PARKING = 10.0
_DDL = f"""CREATE TABLE IF NOT EXISTS {PARKED_TABLE} (
    follower text NOT NULL,
    event_id uuid NOT NULL,
    notification_id bigint NOT NULL,
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text NOT NULL,
    reason text NOT NULL,
    attempts integer NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    republished_at timestamptz,
    held boolean NOT NULL DEFAULT false,
    PRIMARY KEY (follower, event_id))"""
# tables made before held rows existed
_ADD_HELD = (
    f"ALTER TABLE {PARKED_TABLE} ADD COLUMN IF NOT EXISTS held boolean NOT NULL DEFAULT false"
)


class EventNotHandled(RetryLater):
    """An event failed; the batch is retried (after the follower's backoff) until it is parked."""


@dataclass(frozen=True)
class ParkedEvent:
    follower: str
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    reason: str
    attempts: int
    parked_at: datetime | None = None
    republished_at: datetime | None = None
    held: bool = False  # set aside by the publisher, not parked (yet)

    @property
    def event_id(self) -> UUID:
        return event_id(self.originator_id, self.originator_version)


@dataclass
class _Attempts:
    count: int
    first: float


class FailureCounter:
    """Counts each event's failures; says when one has failed often and long enough to park."""

    def __init__(
        self,
        follower: str,
        *,
        max_attempts: int = MAX_EVENT_ATTEMPTS,
        min_seconds: float = MIN_SECONDS_BEFORE_PARKING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._follower = follower
        self._max_attempts = max_attempts
        self._min_seconds = min_seconds
        self._clock = clock
        self._attempts: dict[int, _Attempts] = {}

    def failed(self, notification: Notification, stage: str, exc: BaseException) -> ParkedEvent:
        """The event to park, once it is due; until then raises EventNotHandled."""
        now = self._clock()
        attempts = self._attempts.setdefault(notification.id, _Attempts(0, now))
        attempts.count += 1
        reason = f"{stage}: {describe(exc)}"
        if attempts.count < self._max_attempts or now - attempts.first < self._min_seconds:
            raise EventNotHandled(
                f"notification {notification.id} not handled ({reason}), attempt {attempts.count}"
            )
        return ParkedEvent(
            self._follower,
            notification.id,
            UUID(str(notification.originator_id)),
            notification.originator_version,
            notification.topic,
            reason,
            attempts.count,
        )

    def forget_upto(self, position: int) -> None:
        for notification_id in [n for n in self._attempts if n <= position]:
            del self._attempts[notification_id]


def describe(exc: BaseException) -> str:
    """The exception's type, and its text only where it names an encoding limit (no data)."""
    if isinstance(exc, TypeError | ValueError) and "exceeds" in str(exc):
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return type(exc).__name__


async def ensure_parking(connection: asyncpg.Connection) -> None:
    """Inside the schema-locked transaction of `projections.tracking.lock_schema`."""
    await connection.execute(_DDL)
    await connection.execute(_ADD_HELD)


async def park(connection: asyncpg.Connection, events: list[ParkedEvent]) -> None:
    """Inside the transaction that moves the follower's position past them."""
    if not events:
        return
    await connection.executemany(
        f"INSERT INTO {PARKED_TABLE} (follower, event_id, notification_id, "  # noqa: S608
        "originator_id, originator_version, topic, reason, attempts) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (follower, event_id) DO UPDATE SET reason = EXCLUDED.reason, "
        "attempts = EXCLUDED.attempts, parked_at = now(), republished_at = NULL, held = false",
        [_row(e) for e in events],
    )


def _row(e: ParkedEvent) -> tuple[object, ...]:
    return (
        e.follower,
        e.event_id,
        e.notification_id,
        e.originator_id,
        e.originator_version,
        e.topic,
        e.reason,
        e.attempts,
    )


async def waiting(pool: asyncpg.Pool, follower: str) -> int:
    """How many of the follower's parked events are still waiting (not republished)."""
    value = await pool.fetchval(
        f"SELECT count(*) FROM {PARKED_TABLE} "  # noqa: S608
        "WHERE follower = $1 AND republished_at IS NULL AND NOT held",
        follower,
    )
    return int(value or 0)


async def find(pool: asyncpg.Pool, follower: str, parked_event_id: UUID) -> ParkedEvent | None:
    row = await pool.fetchrow(
        f"SELECT notification_id, originator_id, originator_version, topic, reason, "  # noqa: S608
        f"attempts, parked_at, republished_at, held FROM {PARKED_TABLE} "
        "WHERE follower = $1 AND event_id = $2",
        follower,
        parked_event_id,
    )
    if row is None:
        return None
    return ParkedEvent(
        follower,
        row["notification_id"],
        UUID(bytes=row["originator_id"].bytes),
        row["originator_version"],
        row["topic"],
        row["reason"],
        row["attempts"],
        row["parked_at"],
        row["republished_at"],
        row["held"],
    )


async def hold(connection: asyncpg.Connection, events: list[ParkedEvent]) -> None:
    """Held rows, inside the transaction that moves the follower's position past them; the
    first one's `parked_at` (when it was set aside) is kept."""
    if not events:
        return
    await connection.executemany(
        f"INSERT INTO {PARKED_TABLE} (follower, event_id, notification_id, "  # noqa: S608
        "originator_id, originator_version, topic, reason, attempts, held) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true) "
        "ON CONFLICT (follower, event_id) DO UPDATE SET reason = EXCLUDED.reason, "
        "attempts = EXCLUDED.attempts",
        [_row(e) for e in events],
    )


async def release(connection: asyncpg.Connection, follower: str, event_ids: list[UUID]) -> None:
    """Held events that were published after all."""
    if event_ids:
        await connection.execute(
            f"DELETE FROM {PARKED_TABLE} WHERE follower = $1 "  # noqa: S608
            "AND event_id = ANY($2::uuid[]) AND held",
            follower,
            event_ids,
        )


async def mark_republished(pool: asyncpg.Pool, follower: str, parked_event_id: UUID) -> None:
    await pool.execute(
        f"UPDATE {PARKED_TABLE} SET republished_at = $3 "  # noqa: S608
        "WHERE follower = $1 AND event_id = $2",
        follower,
        parked_event_id,
        datetime.now(UTC),
    )
