"""The event store as the eventsourcing library builds it: the Application, its mapper and its
settings for PostgreSQL or SQLite. `tempstrong migrate` creates the tables through it, so the
library's schema is the schema; `threaded.py` serves the port from it (dev mode, unit tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, JSONTranscoder, Mapper

from ..domain.credential import TempStrongPassword
from ..domain.user import User
from ..postgres.schema import SCHEMA_LOCK_KEY
from .keys import POSTGRES_DDL, library_postgres_datastore
from .mapper import CorrelatingMapper
from .names import APPLICATION_NAME
from .transcodings import EncryptedAsDict

if TYPE_CHECKING:
    from eventsourcing.postgres import PostgresDatastore

SNAPSHOT_INTERVAL = 100
POOL_SIZE = 8
MAX_OVERFLOW = 8
# The library retries a failed database call 10 times, each waiting up to the pool timeout for a
# connection: a short wait makes an outage fail in ~4 s (503) instead of minutes. Threads never
# wait for a busy connection, since the executor is no larger than the pool.
POOL_WAIT_SECONDS = 0.2
AGGREGATE_CACHE_SIZE = 5000


class EventStoreApp(Application[UUID]):
    """One event store (table `tempstrong_events`) for users, credentials, idempotency records."""

    name = APPLICATION_NAME
    snapshotting_intervals: ClassVar = {
        TempStrongPassword: SNAPSHOT_INTERVAL,
        User: SNAPSHOT_INTERVAL,
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(EncryptedAsDict())

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=CorrelatingMapper
        )

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        datastore = library_postgres_datastore(recorder)
        if datastore is not None:
            datastore.pool.timeout = POOL_WAIT_SECONDS
            if self.env.get("CREATE_TABLE", "y").lower() in ("y", "yes", "t", "true", "on", "1"):
                _create_keys_table(datastore)
        return recorder

    def get_or_none(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate


def _create_keys_table(datastore: PostgresDatastore) -> None:
    """The personal-data keys table beside the library's own, in the same step (keys.py)."""
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        for statement in POSTGRES_DDL:
            cursor.execute(statement)  # type: ignore[arg-type]  # a constant's DDL


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
