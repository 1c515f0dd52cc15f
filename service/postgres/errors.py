"""What the PostgreSQL driver raises when the database is lost, refuses or does not answer.

Adapters catch these and raise the port's `StoreUnavailable` (service/eventstore/port.py), so
nothing outside the adapters needs to know the driver's exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

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


def why_unreachable(exc: BaseException, database_url: str) -> str:
    """In words, why a connection to the database failed (never the password)."""
    parts = urlsplit(database_url)
    database = parts.path.lstrip("/") or "postgres"
    where = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"database {database} does not exist on {where}"
    if isinstance(
        exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return f"PostgreSQL at {where} refused user {parts.username or 'postgres'}"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens on {where} (connection refused)"
    if isinstance(exc, TimeoutError):
        return f"{where} did not answer in time"
    if isinstance(exc, OSError):
        return f"{where} cannot be reached ({exc.strerror or type(exc).__name__})"
    if isinstance(exc, asyncpg.CannotConnectNowError):
        return f"PostgreSQL at {where} is starting up or shutting down"
    return f"{where}: {type(exc).__name__}"
