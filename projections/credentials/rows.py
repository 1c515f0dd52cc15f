"""The credentials read model: which rows a batch of events changes (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
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
            credential_id=credential.id,
            client_ext_id=credential.client_ext_id,
            user_ext_id=credential.user_ext_id,
            ext_id=credential.ext_id,
            policy_ext_id=credential.policy_ext_id,
            state_name=credential.state.value,
            state_before_lock=(
                credential.state_before_lock.value if credential.state_before_lock else None
            ),
            locked_until=credential.locked_until,
            reset_count=credential.reset_count,
            failed_login_count=credential.failed_login_count,
            version=credential.version,
            last_modified=credential.modified_on,
            state=transcoder.encode(state_of(credential)),
        )

    def values(self) -> tuple[Any, ...]:
        return tuple(vars(self).values())


COLUMNS = tuple(CredentialRow.__dataclass_fields__)


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
