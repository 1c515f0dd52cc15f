"""An aggregate survives the library's snapshot round trip (enums, dates) exactly."""

from __future__ import annotations

from datetime import timedelta

from eventsourcing.domain import Snapshot

from service.domain.policy import TempStrongPasswordPolicy
from service.domain.states import CredentialState, StateChangeReason
from service.eventstore.application import EventStoreApp, sqlite_env
from tests.unit.test_credential import T0, new, wrong


def test_snapshot_round_trip_keeps_enums_and_lock(tmp_path):
    store = EventStoreApp(env=sqlite_env(str(tmp_path / "s.sqlite")))
    policy = TempStrongPasswordPolicy(ext_id="p")
    credential = new(policy)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    snapshot = Snapshot.take(credential)
    stored = store.mapper.to_stored_event(snapshot)
    restored = store.mapper.to_domain_event(stored).mutate(None)
    assert restored.state is CredentialState.TMP_LOCKED
    assert restored.state_change_reason is StateChangeReason.TOO_MANY_LOGIN_FAILURES
    assert restored.state_before_lock is CredentialState.INITIAL
    assert restored.effective_state(T0 + timedelta(minutes=2)) == (
        CredentialState.INITIAL,
        StateChangeReason.INITIALIZED,
    )
    assert restored.version == credential.version
    store.close()
