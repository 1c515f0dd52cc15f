"""Group commit: the saves of concurrent requests share one transaction and one table lock.

The event store's guarantees are the eventsourcing library's PostgreSQL recorder's, kept as they
are: every insert transaction takes `LOCK TABLE <events> IN EXCLUSIVE MODE` (so notification ids
commit in the order they were issued and followers never skip an event), NOTIFYs the channel the
followers LISTEN on, and the primary key (originator_id, originator_version) refuses a second
event at the same version (optimistic concurrency per aggregate).

What changes is how often the lock is taken: one writer task per process collects the saves
queued while the previous transaction ran and inserts them all with one statement, so the lock is
held for three round trips per batch instead of per save. A save whose events conflict (another
writer, or another save of the same batch, took one of its versions) fails alone: the batch is
rolled back and committed again without it. A save is all or nothing, like the library's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import IntegrityError, StoredEvent
from opentelemetry.trace import Link

from ..observability import tracing
from ..postgres.errors import DATABASE_ERRORS
from .deadline import DeadlineExceeded, current_deadline, is_past
from .keys import KEYS_TABLE
from .port import NO_KEY_CHANGES, KeyChanges, StoreUnavailable

log = logging.getLogger("tempstrong.eventstore")

MAX_BATCH_SAVES = 256
LOCK_TIMEOUT_SECONDS = 5
CONNECT_WAIT_SECONDS = 2.0
# Bounds each statement of a batch; a batch that started always finishes or fails within it.
STATEMENT_SECONDS = LOCK_TIMEOUT_SECONDS + 2.0


@dataclass(eq=False)
class _Save:
    events: Sequence[StoredEvent]
    deadline: float | None
    # aggregates the command read but did not change: (id, the version it read), which must
    # still be their latest when the events are inserted
    expected: Sequence[tuple[UUID, int]] = ()
    key_changes: KeyChanges = NO_KEY_CHANGES
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # the caller's span, linked from the batch's span (the batch runs in the writer's task)
    link: Link | None = field(default_factory=tracing.link_to_current)

    def keys(self) -> set[tuple[UUID | str, int]]:
        return {(e.originator_id, e.originator_version) for e in self.events}

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


class _Conflicted(Exception):
    def __init__(self, saves: list[_Save]) -> None:
        super().__init__(f"{len(saves)} saves conflicted")
        self.saves = saves


class GroupCommitWriter:
    def __init__(self, pool: asyncpg.Pool, events_table: str) -> None:
        self._pool = pool
        self._queue: list[_Save] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # BEGIN with the lock in the same round trip: a batch costs three (this, the insert,
        # COMMIT), whatever its size
        self._begin_sql = (
            "BEGIN; "
            f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'; "
            f"LOCK TABLE {events_table} IN EXCLUSIVE MODE; "
            f"NOTIFY {events_table}"
        )
        # One statement: the saves whose expected versions are stale insert nothing, the others
        # insert their events in order; a taken version is skipped. Rows not returned conflicted.
        stale = f"""
WITH stale AS (
    SELECT DISTINCT expected.save
    FROM unnest($5::int[], $6::uuid[], $7::bigint[]) AS expected(save, originator_id, version)
    WHERE (SELECT max(stored.originator_version) FROM {events_table} AS stored
           WHERE stored.originator_id = expected.originator_id) IS DISTINCT FROM expected.version
)"""  # noqa: S608 - the table's name is a constant; the values are bind parameters
        insert = f"""
INSERT INTO {events_table} (originator_id, originator_version, topic, state)
SELECT row.originator_id, row.originator_version, row.topic, row.state
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::bytea[], $8::int[])
     AS row(originator_id, originator_version, topic, state, save)
WHERE row.save NOT IN (SELECT save FROM stale)
ON CONFLICT DO NOTHING RETURNING originator_id, originator_version
"""  # noqa: S608
        self._insert_sql = stale + insert
        # A batch with key changes (a new person, an erasure) writes them in the same statement:
        # they commit with the events of their save, or roll back with them.
        key_changes = f""",
new_keys AS (
    INSERT INTO {KEYS_TABLE} (key_id, subject_id, wrapping_key_id, wrapped)
    SELECT k.key_id, k.subject_id, k.wrapping_key_id, k.wrapped
    FROM unnest($9::uuid[], $10::uuid[], $11::text[], $12::bytea[], $13::int[])
         AS k(key_id, subject_id, wrapping_key_id, wrapped, save)
    WHERE k.save NOT IN (SELECT save FROM stale)
    ON CONFLICT (key_id) DO NOTHING
),
scheduled AS (
    UPDATE {KEYS_TABLE} AS k SET erase_after = s.erase_after
    FROM unnest($14::uuid[], $15::timestamptz[], $16::int[]) AS s(key_id, erase_after, save)
    WHERE k.key_id = s.key_id AND s.save NOT IN (SELECT save FROM stale)
),
destroyed AS (
    DELETE FROM {KEYS_TABLE} AS k
    USING unnest($17::uuid[], $18::int[]) AS d(key_id, save)
    WHERE k.key_id = d.key_id AND d.save NOT IN (SELECT save FROM stale)
)"""  # noqa: S608
        self._insert_with_keys_sql = stale + key_changes + insert
        self._lookup_sql = (
            f"SELECT state FROM {events_table} "  # noqa: S608
            "WHERE originator_id = $1 AND originator_version = $2"
        )
        self.batches = 0
        self.saves = 0

    async def insert(
        self,
        events: Sequence[StoredEvent],
        expected: Sequence[tuple[UUID, int]] = (),
        key_changes: KeyChanges = NO_KEY_CHANGES,
    ) -> None:
        """Returns once the events are committed; raises IntegrityError on a version conflict
        (one of the events' versions is taken, or an `expected` version is no longer the
        latest of its aggregate)."""
        if self._closing:
            raise StoreUnavailable("The event store is closing.")
        save = _Save(events, current_deadline(), expected, key_changes)
        self._queue.append(save)
        self._wakeup.set()
        if self._task is None or self._task.done():
            # a fresh context: the task outlives the request that happened to start it
            self._task = asyncio.create_task(
                self._run(), name="group-commit", context=contextvars.Context()
            )
        # Shielded: a caller that stops waiting must not abort a batch other saves are in.
        await asyncio.shield(save.done)

    async def close(self) -> None:
        """Commits what is queued, then stops."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue:
                    batch = self._queue[:MAX_BATCH_SAVES]
                    del self._queue[:MAX_BATCH_SAVES]
                    try:
                        await self._commit_all(batch)
                    except BaseException as exc:
                        # a driver error nobody foresaw, a bug, or cancellation: this batch
                        # fails (503); after an Exception the writer goes on with the next one
                        for save in batch:
                            save.fail(StoreUnavailable("The event store failed unexpectedly."))
                        if not isinstance(exc, Exception):
                            raise
                        log.exception("event store batch failed unexpectedly")
                if self._closing:
                    return
        finally:
            # cancelled or stopping: nobody may wait for ever on a save that will not run
            queued, self._queue = self._queue, []
            for save in queued:
                save.fail(StoreUnavailable("The event store is closing."))

    async def _commit_all(self, batch: list[_Save]) -> None:
        """Commits the batch; conflicting saves fail alone and the rest is committed again."""
        while batch:
            live: list[_Save] = []
            claimed: set[tuple[UUID | str, int]] = set()
            for save in batch:
                keys = save.keys()
                if is_past(save.deadline):
                    save.fail(DeadlineExceeded("The call outlived its deadline; nothing saved."))
                elif not keys.isdisjoint(claimed):
                    # an earlier save of this batch takes the same version: it wins
                    save.fail(IntegrityError("A newer version of the aggregate was saved."))
                elif not save.done.done():
                    live.append(save)
                    claimed |= keys
            if not live:
                return
            try:
                with tracing.span(
                    "tempstrong.eventstore group commit",
                    links=[save.link for save in live],
                    attributes={"tempstrong.saves": len(live)},
                ):
                    committed = await self._commit(live)
            except _Conflicted as conflicted:
                for save in conflicted.saves:
                    save.fail(IntegrityError("A newer version of the aggregate was saved."))
                batch = [save for save in live if save not in conflicted.saves]
                continue
            except DATABASE_ERRORS as exc:
                log.warning("event store batch failed", extra={"error": type(exc).__name__})
                committed = False
            for save in live:
                if committed:
                    if not save.done.done():
                        save.done.set_result(None)
                else:
                    save.fail(StoreUnavailable("The event store is unavailable."))
            if committed:
                self.batches += 1
                self.saves += len(live)
            return

    async def _commit(self, batch: list[_Save]) -> bool:
        """True once committed; False if the connection broke during COMMIT and did not commit.

        Raises _Conflicted (rolled back) and connection errors from before COMMIT (nothing
        committed). A COMMIT whose answer was lost is not reported as a failure blindly: the
        batch's first event is looked up, so a 503 never hides a commit that happened.
        """
        events = [event for save in batch for event in save.events]
        owners = [index for index, save in enumerate(batch) for _ in save.events]
        expected = [(index, *e) for index, save in enumerate(batch) for e in save.expected]
        arguments: list[Any] = [
            [e.originator_id for e in events],
            [e.originator_version for e in events],
            [e.topic for e in events],
            [e.state for e in events],
            [e[0] for e in expected],
            [e[1] for e in expected],
            [e[2] for e in expected],
            owners,
        ]
        sql = self._insert_sql
        if any(save.key_changes for save in batch):
            sql = self._insert_with_keys_sql
            arguments.extend(_key_arguments(batch))
        async with self._pool.acquire(timeout=CONNECT_WAIT_SECONDS) as connection:
            try:
                await connection.execute(self._begin_sql, timeout=STATEMENT_SECONDS)
                rows = await connection.fetch(sql, *arguments, timeout=STATEMENT_SECONDS)
                inserted = {(row[0], row[1]) for row in rows}
                if len(inserted) < len(events):
                    raise _Conflicted([save for save in batch if not save.keys() <= inserted])
            except BaseException:
                if not connection.is_closed():
                    with contextlib.suppress(*DATABASE_ERRORS):
                        await connection.execute("ROLLBACK")
                raise
            try:
                await self._finish(connection)
                return True
            except DATABASE_ERRORS:
                log.warning("event store COMMIT answer lost; looking the batch up")
        return await self._was_committed(events[0])

    async def _finish(self, connection: asyncpg.Connection) -> None:
        await connection.execute("COMMIT", timeout=STATEMENT_SECONDS)

    async def _was_committed(self, first: StoredEvent) -> bool:
        """Whether the batch that holds `first` committed (all its rows did, or none).

        The lookup is retried while the database keeps dropping connections (for up to a
        statement's time): answering 503 for a batch that did commit is what it is there to
        avoid. Only if the database stays away is the outcome reported as a failure.
        """
        deadline = time.monotonic() + STATEMENT_SECONDS
        pause = 0.05
        while True:
            try:
                stored = await self._pool.fetchval(
                    self._lookup_sql,
                    first.originator_id,
                    first.originator_version,
                    timeout=STATEMENT_SECONDS,
                )
            except DATABASE_ERRORS:
                if time.monotonic() + pause > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            # the same version written by another writer since would hold other bytes
            return stored is not None and bytes(stored) == bytes(first.state)


def _key_arguments(batch: list[_Save]) -> list[list[Any]]:
    """The key changes of a batch as the arrays $9..$18 of the insert with keys."""
    new = [(i, key) for i, save in enumerate(batch) for key in save.key_changes.new]
    scheduled = [(i, *s) for i, save in enumerate(batch) for s in save.key_changes.erase_after]
    destroyed = [(i, key_id) for i, save in enumerate(batch) for key_id in save.key_changes.destroy]
    return [
        [key.key_id for _, key in new],
        [key.subject_id for _, key in new],
        [key.wrapping_key_id for _, key in new],
        [key.wrapped for _, key in new],
        [i for i, _ in new],
        [key_id for _, key_id, _ in scheduled],
        [when for _, _, when in scheduled],
        [i for i, _, _ in scheduled],
        [key_id for _, key_id in destroyed],
        [i for i, _ in destroyed],
    ]


async def close_quietly(writer: GroupCommitWriter) -> None:
    with contextlib.suppress(Exception):
        await writer.close()
