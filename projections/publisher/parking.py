"""Events the publisher gave up on: parked with the reason, so the stream goes on (SPEC 4).

A parked event is not lost: `tempstrong republish <event id>` publishes it again (late, so out
of its credential's order; consumers order by `data.version`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from service.domain.ids import event_id

PARKED_TABLE = "publisher_parked"
_DDL = f"""CREATE TABLE IF NOT EXISTS {PARKED_TABLE} (
    event_id uuid PRIMARY KEY,
    notification_id bigint NOT NULL,
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text NOT NULL,
    reason text NOT NULL,
    attempts integer NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    republished_at timestamptz)"""


@dataclass(frozen=True)
class ParkedEvent:
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    reason: str
    attempts: int
    parked_at: datetime | None = None
    republished_at: datetime | None = None

    @property
    def event_id(self) -> UUID:
        return event_id(self.originator_id, self.originator_version)


async def ensure_parking(connection: asyncpg.Connection) -> None:
    """Inside the schema-locked transaction of `projections.tracking.lock_schema`."""
    await connection.execute(_DDL)


async def park(connection: asyncpg.Connection, events: list[ParkedEvent]) -> None:
    """Inside the transaction that moves the publisher's position past them."""
    if not events:
        return
    await connection.executemany(
        f"INSERT INTO {PARKED_TABLE} (event_id, notification_id, originator_id, "  # noqa: S608
        "originator_version, topic, reason, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (event_id) DO UPDATE SET reason = EXCLUDED.reason, "
        "attempts = EXCLUDED.attempts, parked_at = now(), republished_at = NULL",
        [
            (
                e.event_id,
                e.notification_id,
                e.originator_id,
                e.originator_version,
                e.topic,
                e.reason,
                e.attempts,
            )
            for e in events
        ],
    )


async def waiting(pool: asyncpg.Pool) -> int:
    """How many parked events have not been republished."""
    value = await pool.fetchval(
        f"SELECT count(*) FROM {PARKED_TABLE} WHERE republished_at IS NULL"  # noqa: S608
    )
    return int(value or 0)


async def find(pool: asyncpg.Pool, parked_event_id: UUID) -> ParkedEvent | None:
    row = await pool.fetchrow(
        f"SELECT notification_id, originator_id, originator_version, topic, reason, "  # noqa: S608
        f"attempts, parked_at, republished_at FROM {PARKED_TABLE} WHERE event_id = $1",
        parked_event_id,
    )
    if row is None:
        return None
    return ParkedEvent(
        row["notification_id"],
        UUID(bytes=row["originator_id"].bytes),
        row["originator_version"],
        row["topic"],
        row["reason"],
        row["attempts"],
        row["parked_at"],
        row["republished_at"],
    )


async def mark_republished(pool: asyncpg.Pool, parked_event_id: UUID) -> None:
    await pool.execute(
        f"UPDATE {PARKED_TABLE} SET republished_at = $2 WHERE event_id = $1",  # noqa: S608
        parked_event_id,
        datetime.now(UTC),
    )
