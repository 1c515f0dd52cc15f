"""The delivery ledger: exactly once per channel across redeliveries, workers and restarts.

A worker *claims* a batch's message ids (the issuing events' ids) in one statement before
sending: a row per id in `delivery_claims`, naming the worker, taken only if no live worker
holds it (two copies of one message, in any workers or batch loops, are never sent at the same
time) and the message was not delivered before (a redelivery is acked as a duplicate). After
sending it *finishes* in one statement: the delivered ids are recorded for good in
`delivery_dedup`, the claims of the others are let go.

A claim lasts as long as its worker is alive: the worker renews a lease (`delivery_workers`)
every few seconds, on whichever connection the pool gives it. It used to be a session advisory
lock, which died with its database backend: a backend terminated mid-send (a failover, an
operator) let another worker send a second copy. A worker that crashes stops renewing, and its
claims are taken over once its lease lapsed (LEASE_SECONDS), and never while the database has
been up for less than a lease (its live workers may not have renewed yet). The only window for a
duplicate stays the documented one, a crash between the channel's acceptance and the finishing
statement. A finish that fails is retried by the worker, and then by the ledger for as long as
the worker lives, while its claims keep every other copy waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg

from service.postgres.errors import DATABASE_ERRORS
from service.postgres.schema import lock_schema

from .failures import DependencyUnavailable

log = logging.getLogger("tempstrong.delivery")

# A worker that has not renewed its lease for this long is taken for dead.
LEASE_SECONDS = 15.0
RENEW_SECONDS = 3.0
# Claims of delivered messages are kept this long after the delivery: a claim statement that
# began before the delivery was recorded still finds the claim (and waits), never a free id.
_DELIVERED_CLAIMS_KEPT = "1 minute"

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_dedup (
    message_id text PRIMARY KEY,
    delivered_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS delivery_claims (
    message_id text PRIMARY KEY,
    worker uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery_workers (
    worker uuid PRIMARY KEY,
    alive_until timestamptz NOT NULL
)
"""
# Renews the worker's lease, then takes each id neither delivered (a LATERAL index probe per
# id: as EXISTS, a plan the connection cached while the table was small hashed the whole table)
# nor held by a live worker, in id order (two batches never wait on each other in a cycle).
_CLAIM = """
WITH alive AS (
    INSERT INTO delivery_workers (worker, alive_until)
    VALUES ($2, now() + make_interval(secs => $3))
    ON CONFLICT (worker) DO UPDATE SET alive_until = EXCLUDED.alive_until
),
recorded AS (
    SELECT key, found.yes IS NOT NULL AS delivered
    FROM (SELECT DISTINCT unnest($1::text[]) AS key) AS keys
    LEFT JOIN LATERAL (
        SELECT true AS yes FROM delivery_dedup WHERE message_id = key LIMIT 1
    ) AS found ON true
),
taken AS (
    INSERT INTO delivery_claims AS claim (message_id, worker)
    SELECT key, $2 FROM recorded WHERE NOT delivered ORDER BY key
    ON CONFLICT (message_id) DO UPDATE SET worker = EXCLUDED.worker
    WHERE NOT EXISTS (
        SELECT 1 FROM delivery_workers AS w
        WHERE w.worker = claim.worker AND w.alive_until > now()
    ) AND pg_postmaster_start_time() < now() - make_interval(secs => $3)
    RETURNING message_id
)
SELECT key, delivered, key IN (SELECT message_id FROM taken) AS claimed FROM recorded
"""
_FINISH = """
WITH recorded AS (
    INSERT INTO delivery_dedup (message_id)
    SELECT unnest($1::text[]) ON CONFLICT DO NOTHING
)
DELETE FROM delivery_claims WHERE message_id = ANY($2::text[]) AND worker = $3
"""
_RENEW = """
INSERT INTO delivery_workers (worker, alive_until)
VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (worker) DO UPDATE SET alive_until = EXCLUDED.alive_until
"""
_TIDY = f"""
WITH delivered AS (
    DELETE FROM delivery_claims AS claim USING delivery_dedup AS done
    WHERE claim.worker = $1 AND done.message_id = claim.message_id
      AND done.delivered_at < now() - interval '{_DELIVERED_CLAIMS_KEPT}'
),
gone AS (
    DELETE FROM delivery_workers WHERE alive_until < now() - interval '1 day'
)
DELETE FROM delivery_claims AS claim
WHERE NOT EXISTS (SELECT 1 FROM delivery_workers AS w WHERE w.worker = claim.worker)
"""  # noqa: S608
_RETIRE = "DELETE FROM delivery_workers WHERE worker = $1"
_RENEW_ERRORS: tuple[type[Exception], ...] = (*DATABASE_ERRORS, DependencyUnavailable)

Finish = Callable[[Sequence[str]], Awaitable[None]]


@dataclass
class Claims:
    claimed: frozenset[str] = frozenset()  # ours to send, until `finish`
    delivered: frozenset[str] = frozenset()  # done before: a duplicate
    busy: frozenset[str] = frozenset()  # another worker (or batch) has it in hand right now
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
    """One worker's claims; `keep_alive` renews its lease while it runs."""

    def __init__(self, pool: asyncpg.Pool, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self._pool = pool
        self._lease = lease_seconds
        self.worker = uuid.uuid4()
        # finishes the worker gave up waiting for: retried until they are written
        self._unfinished: dict[int, tuple[list[str], list[str]]] = {}

    async def claim(self, keys: Sequence[str]) -> Claims:
        try:
            rows = await self._pool.fetch(_CLAIM, list(keys), self.worker, self._lease)
        except DATABASE_ERRORS as exc:
            raise DependencyUnavailable(f"dedup claim failed ({type(exc).__name__})") from None
        claimed = frozenset(row["key"] for row in rows if row["claimed"])
        delivered = frozenset(row["key"] for row in rows if row["delivered"])
        busy = frozenset(row["key"] for row in rows) - claimed - delivered
        token = object()

        async def finish(sent: Sequence[str]) -> None:
            recorded = [key for key in sent if key in claimed]
            await self._finish(id(token), recorded, sorted(claimed - set(recorded)))

        async def abandon() -> None:
            with contextlib.suppress(DependencyUnavailable):
                await self._finish(id(token), [], sorted(claimed))

        return Claims(claimed, delivered, busy, finish, abandon)

    async def _finish(self, token: int, recorded: list[str], released: list[str]) -> None:
        if not recorded and not released:
            return
        self._unfinished[token] = (recorded, released)
        try:
            await self._pool.execute(_FINISH, recorded, released, self.worker)
        except DATABASE_ERRORS as exc:
            reason = f"dedup record failed ({type(exc).__name__})"
            raise DependencyUnavailable(reason) from None
        self._unfinished.pop(token, None)

    async def keep_alive(self) -> None:
        """Renews the lease, retries the finishes that failed and tidies old claims, until
        cancelled."""
        tidied = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._pool.execute(_RENEW, self.worker, self._lease)
                for token, (recorded, released) in list(self._unfinished.items()):
                    await self._finish(token, recorded, released)
                if loop.time() - tidied > 60:
                    await self._pool.execute(_TIDY, self.worker)
                    tidied = loop.time()
            except _RENEW_ERRORS as exc:
                log.warning("delivery lease not renewed", extra={"error": type(exc).__name__})
            await asyncio.sleep(RENEW_SECONDS)

    async def retire(self) -> None:
        """At a clean stop (nothing in hand): whatever this worker still claims is free."""
        with contextlib.suppress(*DATABASE_ERRORS):
            await self._pool.execute(_RETIRE, self.worker)


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
