"""The API's event store on PostgreSQL with asyncpg: the library's tables, mapper and aggregates.

Reads and writes the tables the eventsourcing library creates (`tempstrong_events`,
`tempstrong_snapshots`) with the library's mapper, snapshot class and projector, so the
library's recorder, followers and `tempstrong rebuild` read every event written here. Writes go
through the group-commit writer (group_commit.py), which keeps the recorder's lock, NOTIFY and
unique versions. Without threads and with asyncpg, a reset costs a fraction of the CPU it costs
through the synchronous recorder (docs/performance.md).

Aggregates are cached after each read and save; every read still fetches the newer events of a
cached aggregate (one indexed SELECT), so writes of other API processes are always seen, and a
command that ran on a stale copy cannot commit (its version is taken).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import asyncpg
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent

from ..observability import tracing
from ..postgres.errors import DATABASE_ERRORS
from ..postgres.pool import create_pool
from ..privacy.keyring import WrappedKey
from .application import AGGREGATE_CACHE_SIZE, EventStoreApp
from .deadline import remaining
from .group_commit import CONNECT_WAIT_SECONDS, GroupCommitWriter, close_quietly
from .keys import DUE_SQL, KEYS_TABLE
from .names import EVENTS_TABLE, SNAPSHOTS_TABLE
from .port import NO_KEY_CHANGES, DueErasure, KeyChanges, StoreUnavailable

READ_SECONDS = 10.0
_LATEST = 2**62  # "the latest version" in a query that asks for versions

A = TypeVar("A", bound=Aggregate)
POOL_MAX = 10


class PostgresStore:
    snapshotting_intervals: ClassVar = EventStoreApp.snapshotting_intervals

    def __init__(
        self, database_url: str, mapper: Mapper[UUID], cache_size: int = AGGREGATE_CACHE_SIZE
    ) -> None:
        self._database_url = database_url
        self._cache_size = cache_size
        self._mapper = mapper
        self._events_table = EVENTS_TABLE
        self._snapshots_table = SNAPSHOTS_TABLE
        # kind 0: the latest snapshot at or below the asked version; kind 1: the events after
        # it; kind 2: the data keys of a user (wrapped), so that a user's key travels with the
        # user's read. Each part is a LATERAL lookup per asked aggregate: its plan is an index scan
        # whatever the tables' statistics were when the plan was cached (a join shape planned
        # while the tables were small, and kept by the connection, scanned whole tables).
        self._reconstruct_sql = f"""
SELECT 0 AS kind, a.originator_id, s.originator_version, s.topic, s.state, NULL::uuid
FROM unnest($1::uuid[], $2::bigint[]) AS a(originator_id, version)
CROSS JOIN LATERAL (
    SELECT originator_version, topic, state FROM {SNAPSHOTS_TABLE} AS s
    WHERE s.originator_id = a.originator_id AND s.originator_version <= a.version
    ORDER BY s.originator_version DESC LIMIT 1
) AS s
UNION ALL
SELECT 1, a.originator_id, e.originator_version, e.topic, e.state, NULL::uuid
FROM unnest($1::uuid[], $2::bigint[]) AS a(originator_id, version)
CROSS JOIN LATERAL (
    SELECT originator_version, topic, state FROM {EVENTS_TABLE} AS e
    WHERE e.originator_id = a.originator_id AND e.originator_version <= a.version
      AND e.originator_version > COALESCE((
          SELECT s.originator_version FROM {SNAPSHOTS_TABLE} AS s
          WHERE s.originator_id = a.originator_id AND s.originator_version <= a.version
          ORDER BY s.originator_version DESC LIMIT 1
      ), 0)
    ORDER BY e.originator_version
) AS e
UNION ALL
SELECT 2, a.originator_id, 0, k.wrapping_key_id, k.wrapped, k.key_id
FROM unnest($1::uuid[]) AS a(originator_id)
CROSS JOIN LATERAL (
    SELECT key_id, wrapping_key_id, wrapped FROM {KEYS_TABLE} AS k
    WHERE k.subject_id = a.originator_id
) AS k
ORDER BY 2, 1, 3
"""  # noqa: S608 - table names are constants; the values are bind parameters
        self._pool: asyncpg.Pool | None = None
        self._writer: GroupCommitWriter | None = None
        self._cache: OrderedDict[UUID, Aggregate] = OrderedDict()
        # users' data keys (wrapped), by subject, read with the subject and bounded alike
        self._keys: OrderedDict[UUID, dict[UUID, WrappedKey]] = OrderedDict()
        self._snapshot_tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        # No connection yet (min_size 0): the API starts while the database is away and
        # answers 503 until it is back.
        self._pool = await create_pool(
            self._database_url,
            min_size=0,
            max_size=POOL_MAX,
            timeout=CONNECT_WAIT_SECONDS,
            max_inactive_connection_lifetime=60,
        )
        self._writer = GroupCommitWriter(self._pool, self._events_table)

    @property
    def writer(self) -> GroupCommitWriter:
        assert self._writer is not None, "PostgresStore.open() was not awaited"
        return self._writer

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "PostgresStore.open() was not awaited"
        return self._pool

    # -- reads -------------------------------------------------------------------------------

    async def get_or_none(self, aggregate_id: UUID, *, fresh: bool = True) -> Aggregate | None:
        # Other requests run while this one awaits the database: the cache may drop or replace
        # the entry meanwhile, so nothing here assumes it is still there afterwards.
        cached = self._cache.get(aggregate_id)
        if cached is not None and not fresh:
            return private_copy(cached)  # checked when the command saves (see `save`)
        if cached is None:
            aggregate = await self._reconstruct(aggregate_id, None)
            if aggregate is None:
                return None
        else:
            newer = await self._select_events(aggregate_id, gt=cached.version)
            aggregate = self._project(private_copy(cached), newer) if newer else cached
            assert aggregate is not None
        self._remember(aggregate)
        return private_copy(aggregate)

    async def get_at(self, aggregate_id: UUID, version: int) -> Aggregate:
        aggregate: Aggregate | None = await self._reconstruct(aggregate_id, version)
        if aggregate is None:
            raise AggregateNotFoundError(f"Aggregate {aggregate_id} version {version} not found.")
        return aggregate

    async def events_of(self, aggregate_id: UUID) -> Sequence[Any]:
        return [self._mapper.to_domain_event(e) for e in await self._select_events(aggregate_id)]

    async def existing(self, aggregate_ids: Sequence[UUID]) -> set[UUID]:
        """Which of the aggregates have events (deleted ones too): one query for all."""
        if not aggregate_ids:
            return set()
        rows = await self._fetch(
            f"SELECT asked.id FROM unnest($1::uuid[]) AS asked(id) "  # noqa: S608
            f"WHERE EXISTS (SELECT 1 FROM {EVENTS_TABLE} AS e "
            "WHERE e.originator_id = asked.id AND e.originator_version = 1)",
            list(aggregate_ids),
        )
        return {UUID(bytes=row[0].bytes) for row in rows}

    async def data_key(self, subject_id: UUID, key_id: UUID) -> WrappedKey | None:
        known = self._keys.get(subject_id)
        if known is None or key_id not in known:
            known = {key.key_id: key for key in await self.data_keys(subject_id)}
        return known.get(key_id)

    async def data_keys(self, subject_id: UUID) -> Sequence[WrappedKey]:
        rows = await self._fetch(
            f"SELECT key_id, wrapping_key_id, wrapped FROM {KEYS_TABLE} "  # noqa: S608
            "WHERE subject_id = $1",
            subject_id,
        )
        keys = [
            WrappedKey(UUID(bytes=row[0].bytes), subject_id, row[1], bytes(row[2])) for row in rows
        ]
        self._keep_keys(subject_id, {key.key_id: key for key in keys})
        return keys

    async def due_erasures(self, now: datetime, limit: int) -> Sequence[DueErasure]:
        rows = await self._fetch(DUE_SQL, now, limit)
        return [DueErasure(UUID(bytes=r[0].bytes), UUID(bytes=r[1].bytes)) for r in rows]

    # -- writes ------------------------------------------------------------------------------

    async def save(
        self,
        *aggregates: Aggregate | None,
        unchanged: Sequence[Aggregate] = (),
        keys: KeyChanges = NO_KEY_CHANGES,
    ) -> None:
        saved = [a for a in aggregates if a is not None]
        pending = [(a, a.collect_events()) for a in saved]
        with tracing.span("tempstrong.eventstore append"):
            # stamped inside the span: the stored trace context names this append
            events = [self._mapper.to_stored_event(e) for _, new in pending for e in new]
            if events:
                try:
                    await self.writer.insert(events, [(a.id, a.version) for a in unchanged], keys)
                except IntegrityError:
                    # another writer moved on: the next read of these must not trust the cache
                    for aggregate in (*saved, *unchanged):
                        self._cache.pop(aggregate.id, None)
                    raise
        self._apply_key_changes(keys)
        for aggregate, new in pending:
            self._remember(aggregate)
            if self._snapshot_due(aggregate, new):
                task = asyncio.create_task(
                    self._take_snapshot(private_copy(aggregate)), context=contextvars.Context()
                )
                self._snapshot_tasks.add(task)
                task.add_done_callback(self._snapshot_tasks.discard)

    async def append(self, events: Sequence[StoredEvent], keys: KeyChanges) -> None:
        """Stores events another process mapped (an import's), all or none, with their key
        changes; they do not enter the cache (nothing here will read them soon)."""
        await self.writer.insert(events, (), keys)

    async def close(self) -> None:
        if self._writer is not None:
            await close_quietly(self._writer)
        if self._snapshot_tasks:
            await asyncio.gather(*self._snapshot_tasks, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()

    # -- helpers -----------------------------------------------------------------------------

    async def _reconstruct(self, aggregate_id: UUID, version: int | None) -> Aggregate | None:
        rebuilt = await self._reconstruct_many([(aggregate_id, version)])
        return rebuilt.get(aggregate_id)

    async def get_many_at(self, versions: Sequence[tuple[UUID, int]]) -> dict[UUID, Aggregate]:
        """Each aggregate as it was at its version, for many at once (one round trip)."""
        return await self._reconstruct_many(versions)

    async def _reconstruct_many(
        self, versions: Sequence[tuple[UUID, int | None]]
    ) -> dict[UUID, Aggregate]:
        """From the latest snapshot at or below each version and the events after it, all in
        one query (a read of one aggregate used to take two round trips)."""
        if not versions:
            return {}
        rows = await self._fetch(
            self._reconstruct_sql,
            [aggregate_id for aggregate_id, _ in versions],
            [_LATEST if version is None else version for _, version in versions],
        )
        initial: dict[UUID, Aggregate | None] = {}
        stored: dict[UUID, list[StoredEvent]] = {}
        keys: dict[UUID, list[WrappedKey]] = {}
        for kind, raw_id, originator_version, topic, state, key_id in rows:
            aggregate_id = UUID(bytes=raw_id.bytes)
            if kind == 2:
                wrapped = WrappedKey(UUID(bytes=key_id.bytes), aggregate_id, topic, bytes(state))
                keys.setdefault(aggregate_id, []).append(wrapped)
                continue
            event = StoredEvent(aggregate_id, originator_version, topic, bytes(state))
            if kind == 0:
                initial[aggregate_id] = self._mapper.to_domain_event(event).mutate(None)  # type: ignore[attr-defined]
            else:
                stored.setdefault(aggregate_id, []).append(event)
        for subject_id, subject_keys in keys.items():
            self._keep_keys(subject_id, {key.key_id: key for key in subject_keys})
        rebuilt: dict[UUID, Aggregate] = {}
        for aggregate_id in initial.keys() | stored.keys():
            aggregate = self._project(initial.get(aggregate_id), stored.get(aggregate_id, []))
            if aggregate is not None:
                rebuilt[aggregate_id] = aggregate
        return rebuilt

    def _project(
        self, aggregate: Aggregate | None, stored: Iterable[StoredEvent]
    ) -> Aggregate | None:
        # the library's project_aggregate does the same, after a runtime Protocol isinstance
        # check per event that cost a tenth of a read's CPU
        for event in stored:
            aggregate = self._mapper.to_domain_event(event).mutate(aggregate)  # type: ignore[attr-defined]
        return aggregate

    def _remember(self, aggregate: Aggregate) -> None:
        cached = self._cache.pop(aggregate.id, None)
        if cached is not None and cached.version > aggregate.version:
            aggregate = cached  # a save that finished later than a newer one
        elif cached is not aggregate:
            aggregate = private_copy(aggregate)
        self._cache[aggregate.id] = aggregate  # re-inserted: now the most recently used
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _keep_keys(self, subject_id: UUID, keys: dict[UUID, WrappedKey]) -> None:
        self._keys.pop(subject_id, None)
        self._keys[subject_id] = keys
        while len(self._keys) > self._cache_size:
            self._keys.popitem(last=False)

    def _apply_key_changes(self, changes: KeyChanges) -> None:
        for key in changes.new:
            known = self._keys.get(key.subject_id)
            self._keep_keys(key.subject_id, {**(known or {}), key.key_id: key})
        if changes.destroy:  # an erasure: rare, so a walk of the cache is fine
            destroyed = set(changes.destroy)
            for keys in self._keys.values():
                for key_id in destroyed & keys.keys():
                    del keys[key_id]

    def _snapshot_due(self, aggregate: Aggregate, new: Sequence[Any]) -> bool:
        interval = self.snapshotting_intervals.get(type(aggregate))
        return bool(interval) and any(e.originator_version % interval == 0 for e in new)

    async def _take_snapshot(self, aggregate: Aggregate) -> None:
        snapshot_class = getattr(type(aggregate), "Snapshot", Snapshot)
        stored = self._mapper.to_stored_event(snapshot_class.take(aggregate))
        # a snapshot only saves replay time: if it fails, the next interval takes another
        with contextlib.suppress(*DATABASE_ERRORS):
            await self.pool.execute(
                f"INSERT INTO {self._snapshots_table} "  # noqa: S608
                "(originator_id, originator_version, topic, state) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT DO NOTHING",
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                stored.state,
                timeout=READ_SECONDS,
            )

    async def _select_events(
        self, aggregate_id: UUID, *, gt: int | None = None, lte: int | None = None
    ) -> list[StoredEvent]:
        rows = await self._fetch(
            f"SELECT originator_version, topic, state FROM {self._events_table} "  # noqa: S608
            "WHERE originator_id = $1 AND originator_version > $2 AND originator_version <= $3 "
            "ORDER BY originator_version",
            aggregate_id,
            0 if gt is None else gt,
            _LATEST if lte is None else lte,
        )
        return [StoredEvent(aggregate_id, row[0], row[1], bytes(row[2])) for row in rows]

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            async with asyncio.timeout(remaining(READ_SECONDS)):
                async with self.pool.acquire() as connection:
                    rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
                    return rows
        except DATABASE_ERRORS as exc:
            raise StoreUnavailable(f"The event store is unavailable: {exc!r}") from exc


def private_copy(aggregate: A) -> A:
    """A copy commands may change without touching the cached one.

    Aggregates here only ever rebind attributes (events assign new values; none mutates a
    container in place), so a shallow copy with its own pending-event list is enough; it is
    an order of magnitude cheaper than the deepcopy the library's cache makes.
    """
    duplicate = copy.copy(aggregate)
    object.__setattr__(duplicate, "_pending_events", [])
    return duplicate
