"""The list endpoint filters by the effective state in SQL; the domain decides it in Python.
Both must agree on every combination (state, lock end before/after now, state before the lock)."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from projections.credentials.rows import effective_state_sql
from service.domain.credential import TempStrongPassword
from service.domain.states import CredentialState, StateChangeReason

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _domain(state, locked_until, before):  # type: ignore[no-untyped-def]
    credential = object.__new__(TempStrongPassword)
    credential.state = state
    credential.state_change_reason = StateChangeReason.TOO_MANY_LOGIN_FAILURES
    credential.locked_until = locked_until
    credential.state_before_lock = before
    credential.reason_before_lock = None
    return credential.effective_state(NOW)[0].value


@pytest.mark.parametrize(
    ("state", "locked_until", "before"),
    list(
        itertools.product(
            list(CredentialState),
            [None, NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1)],
            [None, CredentialState.INITIAL, CredentialState.ACTIVE],
        )
    ),
)
def test_the_sql_and_the_domain_agree(state, locked_until, before):
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (state_name, locked_until, state_before_lock)")
    connection.execute(
        "INSERT INTO t VALUES (?, ?, ?)",
        (
            state.value,
            locked_until.isoformat() if locked_until else None,
            before.value if before else None,
        ),
    )
    (in_sql,) = connection.execute(
        f"SELECT {effective_state_sql('?')} FROM t",
        (NOW.isoformat(),),
    ).fetchone()
    assert in_sql == _domain(state, locked_until, before)
