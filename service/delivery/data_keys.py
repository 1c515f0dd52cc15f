"""The persons' data keys the worker needs to reveal the addresses of a batch (one query).

A key that is gone was erased: its person's envelopes are skipped, never sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import asyncpg

from service.eventstore.keys import KEYS_TABLE, KeyTable
from service.postgres.errors import DATABASE_ERRORS
from service.privacy.keyring import WrappedKey

from .failures import DependencyUnavailable

_BY_IDS = (
    f"SELECT key_id, subject_id, wrapping_key_id, wrapped FROM {KEYS_TABLE} "  # noqa: S608
    "WHERE key_id = ANY($1::uuid[])"
)


class DataKeySource(Protocol):
    async def wrapped(self, key_ids: Sequence[UUID]) -> dict[UUID, WrappedKey]:
        """The keys of `key_ids` that still exist; raises DependencyUnavailable."""
        ...


class PostgresDataKeys(DataKeySource):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def wrapped(self, key_ids: Sequence[UUID]) -> dict[UUID, WrappedKey]:
        try:
            rows = await self._pool.fetch(_BY_IDS, list(key_ids))
        except DATABASE_ERRORS as exc:
            reason = f"data key lookup failed ({type(exc).__name__})"
            raise DependencyUnavailable(reason) from None
        return {
            UUID(bytes=row[0].bytes): WrappedKey(
                UUID(bytes=row[0].bytes), UUID(bytes=row[1].bytes), row[2], bytes(row[3])
            )
            for row in rows
        }


class TableDataKeys(DataKeySource):
    """Dev mode and unit tests: the library store's keys table."""

    def __init__(self, table: KeyTable) -> None:
        self._table = table

    async def wrapped(self, key_ids: Sequence[UUID]) -> dict[UUID, WrappedKey]:
        return await asyncio.to_thread(self._table.by_ids, key_ids)
