"""The credentials view on SQLite for dev mode: the same fold, one file under ./var."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import Mapper, Notification

from service.domain.credential import TempStrongPassword
from service.queries.pages import PageQuery

from ..folding import decode_credential_events, timestamp_of
from ..follower import Handled
from ..parking import FailureCounter, ParkedEvent
from ..tracking import TRACKING_TABLE
from .rows import (
    COLUMNS,
    VIEW_NAME,
    CredentialRow,
    apply_events,
    create_table_sql,
    decode_credential,
    effective_state_sql,
)

# The names are constants, not input.
_TRACKING = f"""
CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
INSERT OR IGNORE INTO {TRACKING_TABLE} (name, position) VALUES ('{VIEW_NAME}', 0);
"""  # noqa: S608
_POSITION = f"SELECT position FROM {TRACKING_TABLE} WHERE name = ?"  # noqa: S608
_SET_POSITION = f"UPDATE {TRACKING_TABLE} SET position = ? WHERE name = ?"  # noqa: S608


class SqliteCredentialsView:
    """Sink and reader in one (dev mode has one process); calls run in a worker thread."""

    name = VIEW_NAME

    def __init__(self, path: str, mapper: Mapper[UUID]) -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for statement in create_table_sql(VIEW_NAME, "sqlite"):
            self._connection.execute(statement)
        self._connection.executescript(_TRACKING)
        self._lock = threading.Lock()
        self._mapper = mapper
        self._failures = FailureCounter(VIEW_NAME)
        self.parked: list[ParkedEvent] = []  # dev mode keeps them in memory (and the log)

    async def position(self) -> int:
        return await asyncio.to_thread(self._position)

    def _position(self) -> int:
        with self._lock:
            row = self._connection.execute(_POSITION, (VIEW_NAME,)).fetchone()
        return int(row[0]) if row else 0

    async def idle(self) -> Handled:
        return Handled()  # nothing set aside: a failing event is retried with its batch

    async def handle(self, batch: Sequence[Notification]) -> Handled:
        handled = await asyncio.to_thread(self._handle, batch)
        self._failures.forget_upto(batch[-1].id)
        self.parked.extend(handled.parked)
        return handled

    def _handle(self, batch: Sequence[Notification]) -> Handled:
        transcoder = self._mapper.transcoder
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                position = cursor.execute(_POSITION, (VIEW_NAME,)).fetchone()[0]
                fresh = [n for n in batch if n.id > position]
                decoded, parked = decode_credential_events(self._mapper, fresh, self._failures)
                current: dict[UUID, TempStrongPassword | None] = {}
                for originator_id in {e.originator_id for _, e in decoded}:
                    row = cursor.execute(
                        f"SELECT state FROM {VIEW_NAME} WHERE credential_id = ?",  # noqa: S608
                        (str(originator_id),),
                    ).fetchone()
                    if row:
                        current[originator_id] = decode_credential(row[0], transcoder)
                changed, failed = apply_events(current, decoded)
                parked.extend(self._failures.failed(n, "fold", exc) for n, exc in failed)
                for credential_id, credential in changed.items():
                    if credential is None:
                        cursor.execute(
                            f"DELETE FROM {VIEW_NAME} WHERE credential_id = ?",  # noqa: S608
                            (str(credential_id),),
                        )
                        continue
                    values = [
                        _sqlite_value(v) for v in CredentialRow.of(credential, transcoder).values()
                    ]
                    cursor.execute(
                        f"INSERT OR REPLACE INTO {VIEW_NAME} ({', '.join(COLUMNS)}) "  # noqa: S608
                        f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                        values,
                    )
                if fresh:
                    cursor.execute(_SET_POSITION, (fresh[-1].id, VIEW_NAME))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return Handled(timestamp_of(decoded[-1][1]) if decoded else None, parked)

    async def page(self, query: PageQuery) -> list[TempStrongPassword]:
        return await asyncio.to_thread(self._page, query)

    def _page(self, query: PageQuery) -> list[TempStrongPassword]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT state FROM {VIEW_NAME} WHERE client_ext_id = ? "  # noqa: S608
                "AND (? IS NULL OR user_ext_id > ?) "
                f"AND (? IS NULL OR {effective_state_sql('?')} = ?) "
                "ORDER BY user_ext_id LIMIT ?",
                (
                    query.client,
                    query.after_user,
                    query.after_user,
                    query.state_name,
                    _sqlite_value(query.now),
                    query.state_name,
                    query.limit,
                ),
            ).fetchall()
        transcoder = self._mapper.transcoder
        return [decode_credential(row[0], transcoder) for row in rows]

    def close(self) -> None:
        self._connection.close()


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
