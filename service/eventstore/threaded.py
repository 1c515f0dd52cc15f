"""The port's adapter over the library's synchronous Application: each call runs on a bounded
thread pool (dev mode on SQLite; the in-memory store of the service-layer tests)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, PersistenceError

from .application import MAX_OVERFLOW, POOL_SIZE, EventStoreApp
from .deadline import DeadlineExceeded, check_deadline, remaining
from .port import StoreUnavailable

# Without a deadline in scope (CLI, tests), how long one store call may take.
DEFAULT_CALL_SECONDS = 30.0

T = TypeVar("T")


def executor_size() -> int:
    return POOL_SIZE + MAX_OVERFLOW


class ThreadedStore:
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
                raise DeadlineExceeded("Outlived its deadline; nothing was saved.") from None
            await saving

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        await asyncio.to_thread(self.app.close)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # The thread inherits the deadline (a context variable); the library retries a lost
        # connection inside each call, so the wait is bounded here as well.
        try:
            return await asyncio.wait_for(
                self._submit(fn, *args, **kwargs), remaining(DEFAULT_CALL_SECONDS)
            )
        except TimeoutError:
            raise StoreUnavailable("The event store did not answer in time.") from None

    def _submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Runs `fn` on the pool with the caller's context (its deadline); the library's outage
        errors become the port's StoreUnavailable (a version conflict stays IntegrityError)."""
        call = functools.partial(
            contextvars.copy_context().run, _port_errors, functools.partial(fn, *args, **kwargs)
        )
        return asyncio.get_running_loop().run_in_executor(self._executor, call)


def _port_errors(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except IntegrityError:
        raise
    except PersistenceError as exc:
        raise StoreUnavailable(f"The event store is unavailable ({type(exc).__name__})") from exc
