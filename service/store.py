"""The aggregate store the service commands run against, and its library-backed implementation.

Two implementations keep one set of commands: `PostgresStore` (store_pg.py; asyncio, group
commit, the API's production path) and `LibraryStore` (here: the eventsourcing Application,
called through a bounded thread pool; dev mode on SQLite).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from .deadline import DeadlineExceeded, check_deadline, remaining
from .persistence import EventStoreApp, executor_size

T = TypeVar("T")

# Without a deadline in scope (CLI, tests), how long one store call may take.
DEFAULT_CALL_SECONDS = 30.0


class AggregateStore(Protocol):
    async def get_or_none(self, aggregate_id: UUID) -> Aggregate | None:
        """The current aggregate (a private copy the caller may change), or None."""

    async def get_at(self, aggregate_id: UUID, version: int) -> Aggregate:
        """The aggregate as it was at `version`."""

    async def events_of(self, aggregate_id: UUID) -> Sequence[Any]:
        """All events of the aggregate, oldest first."""

    async def save(self, *aggregates: Aggregate | None) -> None:
        """Stores the pending events of all aggregates in one transaction, or none of them.

        Raises eventsourcing's IntegrityError when another writer got to a version first.
        """

    async def open(self) -> None:
        """Called once the event loop runs (the API's startup)."""

    async def close(self) -> None: ...


class LibraryStore:
    """The eventsourcing Application itself; its synchronous calls run on a thread pool."""

    def __init__(self, app: EventStoreApp, executor: ThreadPoolExecutor | None = None) -> None:
        self.app = app
        self._executor = executor or ThreadPoolExecutor(
            executor_size(), thread_name_prefix="eventstore"
        )

    async def get_or_none(self, aggregate_id: UUID) -> Aggregate | None:
        return await self._call(self.app.get_or_none, aggregate_id)

    async def get_at(self, aggregate_id: UUID, version: int) -> Aggregate:
        aggregate: Aggregate = await self._call(
            self.app.repository.get, aggregate_id, version=version
        )
        return aggregate

    async def events_of(self, aggregate_id: UUID) -> Sequence[Any]:
        return await self._call(lambda: list(self.app.events.get(aggregate_id)))

    async def save(self, *aggregates: Aggregate | None) -> None:
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
