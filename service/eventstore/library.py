"""The eventsourcing library's own event store: the Application, its settings for PostgreSQL or
SQLite, and `LibraryStore`, the port's adapter that calls it through a bounded thread pool (dev
mode on SQLite; the in-memory store of the service-layer tests). `tempstrong migrate` creates the
tables through it, so the library's schema is the schema."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, Mapper
from psycopg_pool import ConnectionPool

from ..correlation import CorrelatingMapper
from ..deadline import DeadlineExceeded, check_deadline, remaining
from ..domain.credential import TempStrongPassword
from ..domain.user import User
from .names import APPLICATION_NAME

SNAPSHOT_INTERVAL = 100
POOL_SIZE = 8
MAX_OVERFLOW = 8
# The library retries a failed database call 10 times, each waiting up to the pool timeout for a
# connection: a short wait makes an outage fail in ~4 s (503) instead of minutes. Threads never
# wait for a busy connection, since the executor is no larger than the pool.
POOL_WAIT_SECONDS = 0.2
AGGREGATE_CACHE_SIZE = 5000
# Without a deadline in scope (CLI, tests), how long one store call may take.
DEFAULT_CALL_SECONDS = 30.0

T = TypeVar("T")


class EventStoreApp(Application[UUID]):
    """One event store (table `tempstrong_events`) for users, credentials, idempotency records."""

    name = APPLICATION_NAME
    snapshotting_intervals: ClassVar = {
        TempStrongPassword: SNAPSHOT_INTERVAL,
        User: SNAPSHOT_INTERVAL,
    }

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=CorrelatingMapper
        )

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        pool = getattr(getattr(recorder, "datastore", None), "pool", None)
        if isinstance(pool, ConnectionPool):
            pool.timeout = POOL_WAIT_SECONDS
        return recorder

    def get_or_none(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate


def event_mapper() -> Mapper[UUID]:
    """The mapper (transcoder, cipher, compressor) of the event store, without a database."""
    return EventStoreApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def postgres_env(database_url: str, *, create_table: bool) -> dict[str, str]:
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("TEMPSTRONG_DATABASE_URL must be a postgresql:// URL")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "2",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": str(POOL_SIZE),
        "POSTGRES_MAX_OVERFLOW": str(MAX_OVERFLOW),
        "POSTGRES_MAX_WAITING": "0",
        "CREATE_TABLE": "y" if create_table else "n",
        # Cached aggregates are fast-forwarded from the store on every read (one SELECT of the
        # newer events instead of snapshot + events), so other pods' writes are always seen.
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_SIZE),
    }


def sqlite_env(path: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "5",
        "CREATE_TABLE": "y",
    }


def executor_size() -> int:
    return POOL_SIZE + MAX_OVERFLOW


class LibraryStore:
    """The eventsourcing Application itself; its synchronous calls run on a thread pool."""

    def __init__(self, app: EventStoreApp, executor: ThreadPoolExecutor | None = None) -> None:
        self.app = app
        self._executor = executor or ThreadPoolExecutor(
            executor_size(), thread_name_prefix="eventstore"
        )

    async def get_or_none(self, aggregate_id: UUID, *, fresh: bool = True) -> Aggregate | None:
        return await self._call(self.app.get_or_none, aggregate_id)  # always fresh

    async def get_at(self, aggregate_id: UUID, version: int) -> Aggregate:
        aggregate: Aggregate = await self._call(
            self.app.repository.get, aggregate_id, version=version
        )
        return aggregate

    async def events_of(self, aggregate_id: UUID) -> Sequence[Any]:
        return await self._call(lambda: list(self.app.events.get(aggregate_id)))

    async def save(
        self, *aggregates: Aggregate | None, unchanged: Sequence[Aggregate] = ()
    ) -> None:
        # Reads here are always fresh; a change of an `unchanged` aggregate between the read and
        # this save is not detected (dev mode's single process makes none).
        # Either the thread starts the save before the caller gives up, and the caller then
        # waits for it to finish, or the caller gives up first and the save never starts:
        # a 503 never hides a commit.
        gate = threading.Lock()
        started = abandoned = False

        def save_unless_abandoned() -> None:
            nonlocal started
            with gate:
                if abandoned:
                    raise DeadlineExceeded("The call outlived its deadline; nothing was saved.")
                check_deadline()
                started = True
            self.app.save(*aggregates)

        saving = self._submit(save_unless_abandoned)
        try:
            await asyncio.wait_for(asyncio.shield(saving), remaining(DEFAULT_CALL_SECONDS))
        except TimeoutError:
            with gate:
                abandoned = not started
            if abandoned:
                raise
            await saving

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        await asyncio.to_thread(self.app.close)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # The thread inherits the deadline (a context variable); the library retries a lost
        # connection inside each call, so the wait is bounded here as well.
        return await asyncio.wait_for(
            self._submit(fn, *args, **kwargs), remaining(DEFAULT_CALL_SECONDS)
        )

    def _submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Runs `fn` on the pool with the caller's context (its deadline)."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._executor, call)
