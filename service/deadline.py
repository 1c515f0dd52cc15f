"""A per-call deadline that a worker thread checks before it commits.

The HTTP layer answers 503 when a call outlives its deadline, but the thread running it cannot
be cancelled. Checking the deadline right before each save keeps such a call from committing
later, so a 503 does not turn into a success behind the caller's back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from eventsourcing.persistence import OperationalError

_deadline: ContextVar[float | None] = ContextVar("tempstrong_deadline", default=None)

P = ParamSpec("P")
T = TypeVar("T")


class DeadlineExceeded(OperationalError):
    """Raised instead of saving once the caller has been told 503."""


def with_deadline(seconds: float, fn: Callable[P, T]) -> Callable[P, T]:
    """Wraps `fn` so that, in whichever thread it runs, saves check the deadline."""
    deadline = time.monotonic() + seconds

    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        token = _deadline.set(deadline)
        try:
            return fn(*args, **kwargs)
        finally:
            _deadline.reset(token)

    return call


def check_deadline() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded("The call outlived its deadline; nothing was saved.")
