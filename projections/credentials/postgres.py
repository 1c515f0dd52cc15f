"""The credentials view in PostgreSQL (asyncpg): rows and tracking position in one transaction."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper, Notification

from service.domain.credential import TempStrongPassword
from service.postgres.errors import unavailable_on_driver_errors
from service.postgres.pool import create_pool
from service.postgres.schema import lock_schema
from service.queries.pages import PageQuery

from ..folding import decode_credential_events, timestamp_of
from ..follower import Handled
from ..parking import FailureCounter, ensure_parking, park
from ..tracking import ensure_tracking, forget, lock_position, read_position, set_position
from .rows import (
    COLUMNS,
    VIEW_NAME,
    CredentialRow,
    apply_events,
    create_table_sql,
    decode_credential,
    effective_state_sql,
)

REBUILD_BATCH = 2000  # events a replay reads and applies at a time


async def ensure_schema(connection: asyncpg.Connection, table: str = VIEW_NAME) -> None:
    async with connection.transaction():
        await lock_schema(connection)
        for statement in create_table_sql(table, "postgresql"):
            await connection.execute(statement)
        await ensure_tracking(connection, table)
        await ensure_parking(connection)


def load_sql(table: str) -> str:
    """The rows of the asked credential ids: an index probe per id whatever plan the connection
    cached (with `= ANY`, a plan made while the table was small scanned all of it)."""
    # the table's name is ours; the ids are a bind parameter
    return f"""SELECT stored.credential_id, stored.state FROM unnest($1::uuid[]) AS asked(id)
CROSS JOIN LATERAL (
    SELECT credential_id, state FROM {table} WHERE credential_id = asked.id LIMIT 1
) AS stored"""  # noqa: S608


class PostgresCredentialsView:
    """A Sink for the follower: applies credential events to `table` and tracks the position."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        mapper: Mapper[UUID],
        table: str = VIEW_NAME,
        failures: FailureCounter | None = None,
    ) -> None:
        self.name = table
        self._pool = pool
        self._mapper = mapper
        self._table = table
        self._failures = failures or FailureCounter(VIEW_NAME)

    async def position(self) -> int:
        return await read_position(self._pool, self._table)

    async def idle(self) -> Handled:
        return Handled()  # nothing set aside: a failing event is retried with its batch

    async def handle(self, batch: Sequence[Notification]) -> Handled:
        async with self._pool.acquire() as connection, connection.transaction():
            handled = await self.apply_in(connection, batch)
        self._failures.forget_upto(batch[-1].id)
        return handled

    async def apply_in(
        self, connection: asyncpg.Connection, batch: Sequence[Notification]
    ) -> Handled:
        """Applies `batch` inside the caller's transaction, after locking the tracking row."""
        position = await lock_position(connection, self._table)
        fresh = [n for n in batch if n.id > position]
        if not fresh:
            return Handled()
        decoded, parked = decode_credential_events(self._mapper, fresh, self._failures)
        ids = list({event.originator_id for _, event in decoded})
        current = await self._load(connection, ids)
        transcoder = self._mapper.transcoder
        changed, failed = apply_events(current, decoded)
        parked.extend(self._failures.failed(n, "fold", exc) for n, exc in failed)
        # one statement each for the batch's upserts and deletes (asyncpg sends them together)
        upserts = [
            CredentialRow.of(credential, transcoder).values()
            for credential in changed.values()
            if credential is not None
        ]
        deletes = [(cid,) for cid, credential in changed.items() if credential is None]
        # deletes first: a user's deleted credential and its new one share (client, user)
        if deletes:
            await connection.executemany(
                f"DELETE FROM {self._table} WHERE credential_id = $1",  # noqa: S608
                deletes,
            )
        if upserts:
            await connection.executemany(self._upsert_sql, upserts)
        await park(connection, parked)
        await set_position(connection, self._table, fresh[-1].id)
        return Handled(timestamp_of(decoded[-1][1]) if decoded else None, parked)

    async def _load(
        self, connection: asyncpg.Connection, ids: list[UUID]
    ) -> dict[UUID, TempStrongPassword | None]:
        if not ids:
            return {}
        rows = await connection.fetch(load_sql(self._table), ids)
        transcoder = self._mapper.transcoder
        return {
            UUID(bytes=r["credential_id"].bytes): decode_credential(bytes(r["state"]), transcoder)
            for r in rows
        }

    @property
    def _upsert_sql(self) -> str:
        placeholders = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
        return (
            f"INSERT INTO {self._table} ({', '.join(COLUMNS)}) VALUES ({placeholders}) "  # noqa: S608
            f"ON CONFLICT (credential_id) DO UPDATE SET {updates}"
        )


class PostgresCredentialsReader:
    """The list endpoint's query side: keyset pages sorted by userExtId (pool made on first use)."""

    def __init__(self, database_url: str, mapper: Mapper[UUID]) -> None:
        self._database_url = database_url
        self._transcoder = mapper.transcoder
        self._pool: asyncpg.Pool | None = None

    async def page(self, query: PageQuery) -> list[TempStrongPassword]:
        with unavailable_on_driver_errors("The read model"):
            rows = await self._fetch_page(query)
        return [decode_credential(bytes(r["state"]), self._transcoder) for r in rows]

    async def _fetch_page(self, query: PageQuery) -> list[asyncpg.Record]:
        if self._pool is None:
            self._pool = await create_pool(self._database_url, min_size=1, max_size=4, timeout=5)
        rows: list[asyncpg.Record] = await self._pool.fetch(
            f"SELECT state FROM {VIEW_NAME} "  # noqa: S608
            "WHERE client_ext_id = $1 AND ($2::text IS NULL OR user_ext_id > $2) "
            f"AND ($3::text IS NULL OR {effective_state_sql('$5')} = $3) "
            "ORDER BY user_ext_id LIMIT $4",
            query.client,
            query.after_user,
            query.state_name,
            query.limit,
            query.now,
            timeout=5,
        )
        return rows

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


ReadAfter = Callable[[int, int], Awaitable[Sequence[Notification]]]


async def rebuild(
    pool: asyncpg.Pool,
    mapper: Mapper[UUID],
    read_after: ReadAfter,
    progress: Callable[[int, int], None] = lambda replayed, position: None,
) -> int:
    """Replays from position 0 into a fresh table, then swaps it in atomically.

    The live projector keeps running: the swap locks the live tracking row (which every live
    batch locks first), applies what the live view has that the new one lacks, renames, and
    carries the position over. Returns the number of events replayed; `progress` is told the
    count so far and the position reached after each batch.
    """
    table = f"{VIEW_NAME}_rb_{secrets.token_hex(4)}"
    async with pool.acquire() as connection:
        await ensure_schema(connection, table)
    # a replay parks what it cannot apply at once, under the live view's name
    failures = FailureCounter(VIEW_NAME, max_attempts=1, min_seconds=0.0)
    fresh_view = PostgresCredentialsView(pool, mapper, table, failures)
    replayed = 0
    position = 0
    batch = await read_after(position, REBUILD_BATCH)
    while batch:
        position = batch[-1].id
        # the next batch is read while this one is applied (two connections of the pool)
        reading = asyncio.ensure_future(read_after(position, REBUILD_BATCH))
        try:
            await fresh_view.handle(batch)
        except BaseException:
            reading.cancel()
            raise
        replayed += len(batch)
        progress(replayed, position)
        batch = await reading
    async with pool.acquire() as connection, connection.transaction():
        live = await lock_position(connection, VIEW_NAME)
        while position < live:
            batch = await read_after(position, REBUILD_BATCH)
            batch = [n for n in batch if n.id <= live]
            if not batch:
                break
            await fresh_view.apply_in(connection, batch)
            position = batch[-1].id
        await connection.execute(f"DROP TABLE IF EXISTS {VIEW_NAME}")
        await connection.execute(f"ALTER TABLE {table} RENAME TO {VIEW_NAME}")
        await set_position(connection, VIEW_NAME, max(position, live))
        await forget(connection, table)
    return replayed
