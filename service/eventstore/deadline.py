"""The deadline of the request being served, checked before anything is committed.

The HTTP layer answers 503 when a call outlives its deadline. Whatever still runs for that call
(a worker thread of the library store, a batch of the group-commit writer) checks the deadline
right before it commits, so a 503 never turns into a success behind the caller's back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .port import StoreUnavailable

_deadline: ContextVar[float | None] = ContextVar("tempstrong_deadline", default=None)


class DeadlineExceeded(StoreUnavailable):
    """Raised instead of saving once the caller has been told 503."""


@contextmanager
def deadline_in(seconds: float) -> Iterator[float]:
    """Sets the deadline of the calls made inside (tasks and copied contexts inherit it)."""
    deadline = time.monotonic() + seconds
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def current_deadline() -> float | None:
    return _deadline.get()


def remaining(default: float) -> float:
    """Seconds left before the deadline (`default` outside of a deadline), never negative."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    return max(0.0, deadline - time.monotonic())


def is_past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def check_deadline() -> None:
    if is_past(_deadline.get()):
        raise DeadlineExceeded("The call outlived its deadline; nothing was saved.")
