"""The credentials read model: which rows a batch of events changes (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints
from uuid import UUID

from eventsourcing.persistence import Notification, Transcoder

from service.domain.credential import TempStrongPassword
from service.domain.states import CredentialState

from ..folding import credential_from_state, fold, state_of

VIEW_NAME = "credentials"


@dataclass(frozen=True)
class CredentialRow:
    credential_id: UUID
    client_ext_id: str
    user_ext_id: str
    ext_id: str
    policy_ext_id: str
    state_name: str
    state_before_lock: str | None
    locked_until: datetime | None
    reset_count: int
    failed_login_count: int
    version: int
    last_modified: datetime
    state: bytes

    @classmethod
    def of(cls, credential: TempStrongPassword, transcoder: Transcoder) -> CredentialRow:
        return cls(
            **{name: getattr(credential, name) for name in _AS_ON_THE_AGGREGATE},
            credential_id=credential.id,
            state_name=credential.state.value,
            state_before_lock=(
                credential.state_before_lock.value if credential.state_before_lock else None
            ),
            last_modified=credential.modified_on,
            state=transcoder.encode(state_of(credential)),
        )

    def values(self) -> tuple[Any, ...]:
        return tuple(vars(self).values())


# columns that hold the aggregate's attribute of the same name, as it is
_AS_ON_THE_AGGREGATE = (
    "client_ext_id",
    "user_ext_id",
    "ext_id",
    "policy_ext_id",
    "locked_until",
    "reset_count",
    "failed_login_count",
    "version",
)
# The view's table is CredentialRow: its fields are the columns, in order, the first the key;
# each dialect's DDL is derived from their types (`create_table_sql`).
COLUMNS = tuple(field.name for field in fields(CredentialRow))
INDEXES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    # (name suffix, columns, unique)
    ("client_user", ("client_ext_id", "user_ext_id"), True),
    ("client_state", ("client_ext_id", "state_name", "user_ext_id"), False),
    ("reset_count", ("reset_count",), False),
    ("version", ("version",), False),
)
_SQL_TYPES: dict[str, dict[type, str]] = {
    "postgresql": {
        UUID: "uuid",
        str: "text",
        datetime: "timestamptz",
        int: "integer",
        bytes: "bytea",
    },
    "sqlite": {UUID: "TEXT", str: "TEXT", datetime: "TEXT", int: "INTEGER", bytes: "BLOB"},
}


def create_table_sql(table: str, dialect: str) -> list[str]:
    """CREATE TABLE and its indexes for `dialect` (`postgresql` or `sqlite`), idempotent."""
    types = _SQL_TYPES[dialect]
    hints = get_type_hints(CredentialRow)
    definitions = []
    for position, name in enumerate(COLUMNS):
        hint = hints[name]
        nullable = get_origin(hint) in (Union, UnionType) and type(None) in get_args(hint)
        base = next(a for a in get_args(hint) if a is not type(None)) if nullable else hint
        constraint = " PRIMARY KEY" if position == 0 else ("" if nullable else " NOT NULL")
        definitions.append(f"{name} {types[base]}{constraint}")
    statements = [f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(definitions)})"]
    for suffix, columns, unique in INDEXES:
        kind = "UNIQUE INDEX" if unique else "INDEX"
        statements.append(
            f"CREATE {kind} IF NOT EXISTS {table}_{suffix} ON {table} ({', '.join(columns)})"
        )
    return statements


def effective_state_sql(now: str) -> str:
    """`TempStrongPassword.effective_state` over a view row, in SQL (PostgreSQL and SQLite):
    a tmp-lock that has ended shows the state from before it. `now` is the placeholder of the
    current time. `tests/projections/test_effective_state_sql.py` holds the two to each other."""
    return (
        f"(CASE WHEN state_name = '{CredentialState.TMP_LOCKED.value}' "
        f"AND locked_until <= {now} AND state_before_lock IS NOT NULL "
        "THEN state_before_lock ELSE state_name END)"
    )


def decode_credential(state: bytes, transcoder: Transcoder) -> TempStrongPassword:
    return credential_from_state(transcoder.decode(state))


def apply_events(
    current: dict[UUID, TempStrongPassword | None], events: Sequence[tuple[Notification, Any]]
) -> tuple[dict[UUID, TempStrongPassword | None], list[tuple[Notification, Exception]]]:
    """Folds events in order onto the current rows; None means the row goes away.

    An event at or below a row's version was applied already and is skipped. An event that
    cannot be folded is returned with its error (the caller retries or parks it); the row stays
    as it was before it.
    """
    changed: dict[UUID, TempStrongPassword | None] = {}
    failed: list[tuple[Notification, Exception]] = []
    for notification, domain_event in events:
        originator_id: UUID = domain_event.originator_id
        previous = changed.get(originator_id, current.get(originator_id))
        if previous is not None and domain_event.originator_version <= previous.version:
            continue
        try:
            credential = fold(previous, domain_event)
        except Exception as exc:
            failed.append((notification, exc))
            continue
        changed[originator_id] = None if credential.deleted else credential
    return changed, failed
