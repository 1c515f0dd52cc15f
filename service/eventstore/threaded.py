"""The port's adapter over the library's synchronous Application: each call runs on a bounded
thread pool (dev mode on SQLite; the in-memory store of the service-layer tests)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, PersistenceError

from ..privacy.keyring import WrappedKey
from .application import MAX_OVERFLOW, POOL_SIZE, EventStoreApp
from .deadline import DeadlineExceeded, check_deadline, remaining
from .keys import KeyTable, default_key_table
from .port import NO_KEY_CHANGES, DueErasure, KeyChanges, StoreUnavailable

# Without a deadline in scope (CLI, tests), how long one store call may take.
DEFAULT_CALL_SECONDS = 30.0

T = TypeVar("T")


def executor_size() -> int:
    return POOL_SIZE + MAX_OVERFLOW


class ThreadedStore:
    """The eventsourcing Application itself; its synchronous calls run on a thread pool."""

    def __init__(
        self,
        app: EventStoreApp,
        executor: ThreadPoolExecutor | None = None,
        keys: KeyTable | None = None,
    ) -> None:
        self.app = app
        self.keys = keys or default_key_table(app.recorder)
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

    async def data_key(self, subject_id: UUID, key_id: UUID) -> WrappedKey | None:
        keys = await self._call(self.keys.of, subject_id)
        return next((key for key in keys if key.key_id == key_id), None)

    async def data_keys(self, subject_id: UUID) -> Sequence[WrappedKey]:
        return await self._call(self.keys.of, subject_id)

    async def due_erasures(self, now: datetime, limit: int) -> Sequence[DueErasure]:
        return await self._call(self.keys.due, now, limit)

    async def save(
        self,
        *aggregates: Aggregate | None,
        unchanged: Sequence[Aggregate] = (),
        keys: KeyChanges = NO_KEY_CHANGES,
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
            # not one transaction with the events here: a key is written before the events that
            # name it, an erasure's deletions after the event that records it (a crash between
            # leaves a key nobody names, or an erasure the next run of it completes)
            self.keys.before_events(keys)
            self.app.save(*aggregates)
            self.keys.after_events(keys)

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
