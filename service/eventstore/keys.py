"""The table of personal-data keys: each person's data key, only ever wrapped.

PostgreSQL (`personal_data_keys`, created by `tempstrong migrate`): the group commit writes it in
the same transaction as the events (postgres.py, group_commit.py), so a person's first event and
their key, or an erasure event and the key's deletion, commit together. The library's store
(threaded.py: dev mode on SQLite, unit tests in memory) keeps it beside its events table, written
just before (new keys) and after (erasures) the events.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import asyncpg

from ..postgres.schema import lock_schema
from ..privacy.keyring import Keyring, UnwrapError, WrappedKey
from .port import DueErasure, KeyChanges

if TYPE_CHECKING:
    from eventsourcing.postgres import PostgresDatastore

KEYS_TABLE = "personal_data_keys"
POSTGRES_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (
    key_id uuid PRIMARY KEY,
    subject_id uuid NOT NULL,
    wrapping_key_id text NOT NULL,
    wrapped bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    erase_after timestamptz)""",
    f"CREATE INDEX IF NOT EXISTS {KEYS_TABLE}_subject ON {KEYS_TABLE} (subject_id)",
    f"CREATE INDEX IF NOT EXISTS {KEYS_TABLE}_due ON {KEYS_TABLE} (erase_after) "
    "WHERE erase_after IS NOT NULL",
)
DUE_SQL = (
    f"SELECT subject_id, key_id FROM {KEYS_TABLE} "  # noqa: S608 - a constant
    "WHERE erase_after <= $1 ORDER BY erase_after LIMIT $2"
)


async def ensure_keys_table(connection: asyncpg.Connection) -> None:
    async with connection.transaction():
        await lock_schema(connection)
        for statement in POSTGRES_DDL:
            await connection.execute(statement)


REWRAP_BATCH = 1000


@dataclass(frozen=True)
class Rewrapped:
    rewrapped: int  # keys now wrapped by the ring's first key
    already: int  # keys that were wrapped by it before
    failed: int  # keys no key of the ring unwraps (left as they are)


async def keys_to_rewrap(pool: asyncpg.Pool, keyring: Keyring) -> int:
    """How many data keys another key than the keyring's first wraps."""
    return int(
        await pool.fetchval(
            f"SELECT count(*) FROM {KEYS_TABLE} WHERE wrapping_key_id <> $1",  # noqa: S608
            keyring.current.key_id,
        )
    )


async def rewrap_all(
    pool: asyncpg.Pool, keyring: Keyring, progress: Callable[[int], None] = lambda done: None
) -> Rewrapped:
    """Re-wraps every data key with the keyring's first key, batch by batch (keyset order);
    `progress` is told how many keys were looked at so far."""
    current = keyring.current.key_id
    rewrapped = failed = 0
    after = UUID(int=0)
    async with pool.acquire() as connection:
        already = int(
            await connection.fetchval(
                f"SELECT count(*) FROM {KEYS_TABLE} WHERE wrapping_key_id = $1",  # noqa: S608
                current,
            )
        )
        while True:
            rows = await connection.fetch(
                f"SELECT key_id, subject_id, wrapping_key_id, wrapped FROM {KEYS_TABLE} "  # noqa: S608
                "WHERE key_id > $1 AND wrapping_key_id <> $2 ORDER BY key_id LIMIT $3",
                after,
                current,
                REWRAP_BATCH,
            )
            if not rows:
                return Rewrapped(rewrapped, already, failed)
            updates = []
            for row in rows:
                wrapped = WrappedKey(
                    UUID(bytes=row[0].bytes), UUID(bytes=row[1].bytes), row[2], bytes(row[3])
                )
                try:
                    new = keyring.rewrap(wrapped)
                except UnwrapError:
                    failed += 1
                    continue
                updates.append(
                    (new.key_id, new.wrapping_key_id, new.wrapped, wrapped.wrapping_key_id)
                )
            # a key erased or re-wrapped meanwhile is left as it is now
            await connection.executemany(
                f"UPDATE {KEYS_TABLE} SET wrapping_key_id = $2, wrapped = $3 "  # noqa: S608
                "WHERE key_id = $1 AND wrapping_key_id = $4",
                updates,
            )
            rewrapped += len(updates)
            after = UUID(bytes=rows[-1][0].bytes)
            progress(rewrapped + failed)


class KeyTable(Protocol):
    """The library store's keys table (synchronous: it runs on the store's threads)."""

    def of(self, subject_id: UUID) -> list[WrappedKey]: ...

    def by_ids(self, key_ids: Sequence[UUID]) -> dict[UUID, WrappedKey]: ...

    def before_events(self, changes: KeyChanges) -> None:
        """New keys, written before the events that name them."""

    def after_events(self, changes: KeyChanges) -> None:
        """Scheduled and destroyed keys, written after the events that record it."""

    def due(self, now: datetime, limit: int) -> list[DueErasure]: ...


class MemoryKeyTable(KeyTable):
    def __init__(self) -> None:
        self._rows: dict[UUID, tuple[WrappedKey, datetime | None]] = {}
        self._lock = threading.Lock()

    def of(self, subject_id: UUID) -> list[WrappedKey]:
        with self._lock:
            return [key for key, _ in self._rows.values() if key.subject_id == subject_id]

    def by_ids(self, key_ids: Sequence[UUID]) -> dict[UUID, WrappedKey]:
        with self._lock:
            return {k: self._rows[k][0] for k in key_ids if k in self._rows}

    def before_events(self, changes: KeyChanges) -> None:
        with self._lock:
            for key in changes.new:
                self._rows.setdefault(key.key_id, (key, None))

    def after_events(self, changes: KeyChanges) -> None:
        with self._lock:
            for key_id, when in changes.erase_after:
                if key_id in self._rows:
                    self._rows[key_id] = (self._rows[key_id][0], when)
            for key_id in changes.destroy:
                self._rows.pop(key_id, None)

    def due(self, now: datetime, limit: int) -> list[DueErasure]:
        with self._lock:
            due = sorted(
                (when, key.subject_id, key.key_id)
                for key, when in self._rows.values()
                if when is not None and when <= now
            )
        return [DueErasure(subject, key_id) for _, subject, key_id in due[:limit]]

    def wrapped(self) -> Sequence[WrappedKey]:
        with self._lock:
            return [key for key, _ in self._rows.values()]


class LibraryPostgresKeyTable(KeyTable):
    """The keys table through the library's own PostgreSQL connections (psycopg), for the
    library's store on PostgreSQL."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore

    def of(self, subject_id: UUID) -> list[WrappedKey]:
        rows = self._fetch(
            f"SELECT key_id, subject_id, wrapping_key_id, wrapped FROM {KEYS_TABLE} "  # noqa: S608
            "WHERE subject_id = %s",
            (subject_id,),
        )
        return [_wrapped(row) for row in rows]

    def by_ids(self, key_ids: Sequence[UUID]) -> dict[UUID, WrappedKey]:
        rows = self._fetch(
            f"SELECT key_id, subject_id, wrapping_key_id, wrapped FROM {KEYS_TABLE} "  # noqa: S608
            "WHERE key_id = ANY(%s)",
            (list(key_ids),),
        )
        return {key.key_id: key for key in map(_wrapped, rows)}

    def before_events(self, changes: KeyChanges) -> None:
        if changes.new:
            with self._datastore.transaction(commit=True) as cursor:
                cursor.executemany(
                    f"INSERT INTO {KEYS_TABLE} "  # noqa: S608
                    "(key_id, subject_id, wrapping_key_id, wrapped) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (key_id) DO NOTHING",
                    [(k.key_id, k.subject_id, k.wrapping_key_id, k.wrapped) for k in changes.new],
                )

    def after_events(self, changes: KeyChanges) -> None:
        if changes.erase_after or changes.destroy:
            with self._datastore.transaction(commit=True) as cursor:
                cursor.executemany(
                    f"UPDATE {KEYS_TABLE} SET erase_after = %s WHERE key_id = %s",  # noqa: S608
                    [(when, key_id) for key_id, when in changes.erase_after],
                )
                cursor.executemany(
                    f"DELETE FROM {KEYS_TABLE} WHERE key_id = %s",  # noqa: S608
                    [(key_id,) for key_id in changes.destroy],
                )

    def due(self, now: datetime, limit: int) -> list[DueErasure]:
        rows = self._fetch(DUE_SQL.replace("$1", "%s").replace("$2", "%s"), (now, limit))
        return [DueErasure(row["subject_id"], row["key_id"]) for row in rows]

    def _fetch(self, sql: str, values: tuple[Any, ...]) -> list[Any]:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(sql, values)  # type: ignore[arg-type]  # a constant's SQL
            return list(cursor.fetchall())


def _wrapped(row: Any) -> WrappedKey:
    return WrappedKey(
        row["key_id"], row["subject_id"], row["wrapping_key_id"], bytes(row["wrapped"])
    )


def library_postgres_datastore(recorder: object) -> PostgresDatastore | None:
    """The library's PostgreSQL datastore behind `recorder`, if that is what it has.

    The module is looked up, not imported: a recorder can only be PostgreSQL's once the library
    imported it, and a process that never uses it is spared psycopg's import (~0.1 s a start).
    """
    module = sys.modules.get("eventsourcing.postgres")
    datastore = getattr(recorder, "datastore", None)
    if module is not None and isinstance(datastore, module.PostgresDatastore):
        found: PostgresDatastore = datastore
        return found
    return None


def default_key_table(recorder: object) -> KeyTable:
    """The keys table beside the library's events: PostgreSQL's, or one in memory."""
    datastore = library_postgres_datastore(recorder)
    if datastore is not None:
        return LibraryPostgresKeyTable(datastore)
    return MemoryKeyTable()


class SqliteKeyTable(KeyTable):
    """Dev mode: the keys in the SQLite file of the events (a table of its own)."""

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute(
            f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (key_id TEXT PRIMARY KEY, "
            "subject_id TEXT NOT NULL, wrapping_key_id TEXT NOT NULL, wrapped BLOB NOT NULL, "
            "erase_after TEXT)"
        )
        self._lock = threading.Lock()

    def of(self, subject_id: UUID) -> list[WrappedKey]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT key_id, wrapping_key_id, wrapped FROM {KEYS_TABLE} "  # noqa: S608
                "WHERE subject_id = ?",
                (str(subject_id),),
            ).fetchall()
        return [WrappedKey(UUID(row[0]), subject_id, row[1], bytes(row[2])) for row in rows]

    def by_ids(self, key_ids: Sequence[UUID]) -> dict[UUID, WrappedKey]:
        with self._lock:
            found = [
                self._connection.execute(
                    f"SELECT key_id, subject_id, wrapping_key_id, wrapped "  # noqa: S608
                    f"FROM {KEYS_TABLE} WHERE key_id = ?",
                    (str(key_id),),
                ).fetchone()
                for key_id in key_ids
            ]
        return {
            UUID(row[0]): WrappedKey(UUID(row[0]), UUID(row[1]), row[2], bytes(row[3]))
            for row in found
            if row is not None
        }

    def before_events(self, changes: KeyChanges) -> None:
        with self._lock:
            self._connection.executemany(
                f"INSERT OR IGNORE INTO {KEYS_TABLE} "  # noqa: S608
                "(key_id, subject_id, wrapping_key_id, wrapped) VALUES (?, ?, ?, ?)",
                [
                    (str(k.key_id), str(k.subject_id), k.wrapping_key_id, k.wrapped)
                    for k in changes.new
                ],
            )

    def after_events(self, changes: KeyChanges) -> None:
        with self._lock:
            self._connection.executemany(
                f"UPDATE {KEYS_TABLE} SET erase_after = ? WHERE key_id = ?",  # noqa: S608
                [(when.isoformat(), str(key_id)) for key_id, when in changes.erase_after],
            )
            self._connection.executemany(
                f"DELETE FROM {KEYS_TABLE} WHERE key_id = ?",  # noqa: S608
                [(str(key_id),) for key_id in changes.destroy],
            )

    def due(self, now: datetime, limit: int) -> list[DueErasure]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT subject_id, key_id FROM {KEYS_TABLE} "  # noqa: S608
                "WHERE erase_after IS NOT NULL AND erase_after <= ? "
                "ORDER BY erase_after LIMIT ?",
                (now.isoformat(), limit),
            ).fetchall()
        return [DueErasure(UUID(row[0]), UUID(row[1])) for row in rows]

    def close(self) -> None:
        self._connection.close()
