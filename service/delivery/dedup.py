"""The delivery ledger: exactly once per channel across redeliveries, workers and restarts.

A worker *claims* a batch's message ids (the issuing events' ids) in one statement before
sending: it takes a session advisory lock on each (two copies of one message, in any workers,
are never sent at the same time) and learns which were delivered before (a redelivery is acked
as a duplicate). After sending it *finishes* in one statement on the same connection: the
delivered ids are recorded for good and every lock is let go. A worker that crashes drops its
connection and its locks with it, so a redelivered message is taken over at once; the only
window for a duplicate stays the documented one, a crash between the channel's acceptance and
the finishing statement.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg

from service.postgres.errors import DATABASE_ERRORS
from service.postgres.schema import lock_schema

from .failures import DependencyUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_dedup (
    message_id text PRIMARY KEY,
    delivered_at timestamptz NOT NULL DEFAULT now()
)
"""
# The advisory locks' key space is hashtextextended's seed, 7453.
# The dedup lookup is a LATERAL index probe per key: as EXISTS, a plan the connection cached
# while the table was small hashed the whole table on every claim.
_CLAIM = """
SELECT key,
       pg_try_advisory_lock(hashtextextended(key, 7453)) AS locked,
       recorded.found IS NOT NULL AS delivered
FROM unnest($1::text[]) AS key
LEFT JOIN LATERAL (
    SELECT true AS found FROM delivery_dedup WHERE message_id = key LIMIT 1
) AS recorded ON true
"""
_FINISH = """
WITH recorded AS (
    INSERT INTO delivery_dedup (message_id)
    SELECT unnest($1::text[]) ON CONFLICT DO NOTHING
)
SELECT count(pg_advisory_unlock(hashtextextended(key, 7453)))
FROM unnest($2::text[]) AS key
"""
_RECORD = "INSERT INTO delivery_dedup (message_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"

Finish = Callable[[Sequence[str]], Awaitable[None]]


@dataclass
class Claims:
    claimed: frozenset[str] = frozenset()  # ours to send, until `finish`
    delivered: frozenset[str] = frozenset()  # done before: a duplicate
    busy: frozenset[str] = frozenset()  # another worker has it in hand right now
    # records the delivered ids for good and lets every claim go; raises DependencyUnavailable
    # (and may be called again) when the record could not be written
    finish: Finish = field(default=lambda delivered: _nothing(), repr=False)
    # lets every claim go without recording anything (the batch was cancelled mid-way)
    abandon: Callable[[], Awaitable[None]] = field(default=lambda: _nothing(), repr=False)


class DedupLedger(Protocol):
    async def claim(self, keys: Sequence[str]) -> Claims:
        """Claims the keys (distinct) that are not delivered and not in another's hands."""
        ...


async def ensure_schema(pool: asyncpg.Pool) -> None:
    """Idempotent: `tempstrong migrate` and every worker at start."""
    async with pool.acquire() as connection, connection.transaction():
        await lock_schema(connection)
        await connection.execute(SCHEMA)


class PostgresDedup(DedupLedger):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, keys: Sequence[str]) -> Claims:
        try:
            connection = await self._pool.acquire()
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(f"dedup claim failed ({type(exc).__name__})") from None
        try:
            rows = await connection.fetch(_CLAIM, list(keys))
        except BaseException as exc:
            await _drop(self._pool, connection)  # whatever locks it took end with it
            if isinstance(exc, DATABASE_ERRORS):
                raise DependencyUnavailable(f"dedup claim failed ({type(exc).__name__})") from None
            raise
        locked = [row["key"] for row in rows if row["locked"]]
        delivered = frozenset(row["key"] for row in rows if row["delivered"])
        busy = frozenset(row["key"] for row in rows if not row["locked"]) - delivered
        held = True

        async def finish(sent: Sequence[str]) -> None:
            nonlocal held
            if held:
                held = False
                try:
                    await connection.fetchval(_FINISH, list(sent), locked)
                except BaseException as exc:
                    await _drop(self._pool, connection)  # the locks end with the connection
                    if not isinstance(exc, DATABASE_ERRORS):
                        raise
                else:
                    await self._pool.release(connection)
                    return
            # the connection (and its locks) is gone: record on another one
            try:
                await self._pool.execute(_RECORD, list(sent))
            except DATABASE_ERRORS as exc:
                reason = f"dedup record failed ({type(exc).__name__})"
                raise DependencyUnavailable(reason) from None

        async def abandon() -> None:
            nonlocal held
            if held:
                held = False
                await _drop(self._pool, connection)

        return Claims(frozenset(locked) - delivered, delivered, busy, finish, abandon)


async def _drop(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
    connection.terminate()
    with contextlib.suppress(*DATABASE_ERRORS):
        await pool.release(connection)


async def _nothing() -> None:
    return None


@dataclass
class MemoryDedup(DedupLedger):
    """Dev mode and unit tests: forgets everything when the process ends."""

    message_ids: set[str] = field(default_factory=set)  # the delivered ones
    in_hand: set[str] = field(default_factory=set)

    async def claim(self, keys: Sequence[str]) -> Claims:
        delivered = frozenset(key for key in keys if key in self.message_ids)
        busy = frozenset(key for key in keys if key in self.in_hand) - delivered
        claimed = frozenset(keys) - delivered - busy
        self.in_hand |= claimed
        held = True

        async def finish(sent: Sequence[str]) -> None:
            await self.record(sent)
            await abandon()

        async def abandon() -> None:
            nonlocal held
            if held:
                held = False
                self.in_hand -= claimed

        return Claims(claimed, delivered, busy, finish, abandon)

    async def record(self, sent: Sequence[str]) -> None:
        await asyncio.sleep(0)
        self.message_ids.update(sent)
