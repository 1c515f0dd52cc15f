"""What the PostgreSQL driver raises when the database is lost, refuses or does not answer.

Adapters catch these and raise the port's `StoreUnavailable` (service/eventstore/port.py), so
nothing outside the adapters needs to know the driver's exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from ..eventstore.port import StoreUnavailable

# What a lost, refused or timed-out database call raises through asyncpg. A connection that a
# server terminates mid-protocol can also surface as asyncpg's InternalClientError family.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


@contextmanager
def unavailable_on_driver_errors(what: str = "The database") -> Iterator[None]:
    """Raises the port's StoreUnavailable for whatever the driver raises on an outage."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        raise StoreUnavailable(f"{what} is unavailable ({type(exc).__name__})") from exc
