"""Group read: the "events after version v" lookups of concurrent requests share one query.

Every command fast-forwards its cached aggregates (user, credential) with the events stored
after the cached version, usually none. Issued one by one, each lookup costs a pool checkout
and a round trip; queued while a previous batch runs, they are answered by one
`unnest(...) JOIN` query (at most MAX_BATCH_READS_IN_FLIGHT batches at a time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
from eventsourcing.persistence import StoredEvent

from .group_commit import CONNECT_WAIT_SECONDS, StoreUnavailable

MAX_BATCH_READS = 512
MAX_BATCH_READS_IN_FLIGHT = 4
READ_STATEMENT_SECONDS = 10.0

_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(eq=False)
class _Lookup:
    aggregate_id: UUID
    after_version: int
    done: asyncio.Future[list[StoredEvent]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupReader:
    def __init__(self, pool: Callable[[], asyncpg.Pool], events_table: str) -> None:
        self._pool = pool
        self._queue: list[_Lookup] = []
        self._slots = asyncio.Semaphore(MAX_BATCH_READS_IN_FLIGHT)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._sql = (
            "SELECT q.i, e.originator_version, e.topic, e.state "  # noqa: S608
            "FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS q(id, after, i) "
            f"JOIN {events_table} e "
            "ON e.originator_id = q.id AND e.originator_version > q.after "
            "ORDER BY q.i, e.originator_version"
        )
        self.batches = 0
        self.lookups = 0

    async def events_after(self, aggregate_id: UUID, version: int) -> list[StoredEvent]:
        lookup = _Lookup(aggregate_id, version)
        self._queue.append(lookup)
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-read")
        return await lookup.done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for batch in list(self._batches):
            await asyncio.gather(batch, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._slots.acquire()
                batch = self._queue[:MAX_BATCH_READS]
                del self._queue[:MAX_BATCH_READS]
                task = asyncio.create_task(self._read(batch))
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)

    async def _read(self, batch: list[_Lookup]) -> None:
        try:
            async with self._pool().acquire(timeout=CONNECT_WAIT_SECONDS) as connection:
                rows = await connection.fetch(
                    self._sql,
                    [lookup.aggregate_id for lookup in batch],
                    [lookup.after_version for lookup in batch],
                    timeout=READ_STATEMENT_SECONDS,
                )
        except _ERRORS as exc:
            for lookup in batch:
                if not lookup.done.done():
                    lookup.done.set_exception(
                        StoreUnavailable(f"The event store is unavailable: {exc!r}")
                    )
            return
        finally:
            self._slots.release()
        found: list[list[StoredEvent]] = [[] for _ in batch]
        for row in rows:
            lookup = batch[row[0] - 1]
            found[row[0] - 1].append(
                StoredEvent(lookup.aggregate_id, row[1], row[2], bytes(row[3]))
            )
        for lookup, events in zip(batch, found, strict=True):
            if not lookup.done.done():
                lookup.done.set_result(events)
        self.batches += 1
        self.lookups += len(batch)
