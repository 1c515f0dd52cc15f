"""Events stored before the restructure keep decoding: topics name module paths
(`service.domain.credential:TempStrongPassword.Reset`), and `StateChanged` and the idempotency
record's events have a second version since. tests/fixtures/legacy_events.json holds rows
written by the code of commit 7a841fa."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from projections.folding import fold
from service.domain.credential import TempStrongPassword
from service.domain.idempotency import IdempotencyRecord, request_fingerprint
from service.domain.states import CredentialState
from service.domain.user import User
from service.eventstore.application import event_mapper
from service.observability.correlation import correlation_id_of

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_events.json"


def _decoded() -> tuple[list[object], list[object]]:
    mapper = event_mapper()
    events, snapshots = [], []
    for row in json.loads(FIXTURE.read_text())["rows"]:
        stored = StoredEvent(
            UUID(row["originator_id"]),
            row["originator_version"],
            row["topic"],
            base64.b64decode(row["state"]),
        )
        (snapshots if row.get("snapshot") else events).append(mapper.to_domain_event(stored))
    return events, snapshots


def test_every_stored_event_of_the_earlier_code_decodes():
    events, snapshots = _decoded()
    assert len(events) == 15 and len(snapshots) == 1
    assert {correlation_id_of(e) for e in events} == {"legacy-request-1"}


def test_the_credential_folds_to_what_it_was():
    events, _ = _decoded()
    credential = None
    for event in (e for e in events if isinstance(e, TempStrongPassword.Event)):
        credential = fold(credential, event)
    assert credential is not None
    assert credential.version == 8 and credential.deleted
    assert credential.reset_count == 1 and credential.policy_ext_id == "tsp-other"
    assert credential.state is CredentialState.INITIAL and credential.failed_login_count == 0


def test_a_version_1_state_changed_is_upcast_with_the_rule_of_its_time():
    events, _ = _decoded()
    (changed,) = [e for e in events if type(e).__name__ == "StateChanged"]
    assert changed.state_name == "active"  # type: ignore[attr-defined]
    assert changed.failed_login_count is None  # type: ignore[attr-defined]
    assert changed.reason_before_lock is None  # type: ignore[attr-defined]
    before = None
    for event in events:
        if isinstance(event, TempStrongPassword.Event):
            if event is changed:
                break
            before = fold(before, event)
    assert before is not None and before.failed_login_count == 2
    after = fold(before, changed)
    # the admin's unlock to active zeroed the count, as version 1 events did
    assert after.failed_login_count == 0 and after.locked_until is None


def test_the_snapshot_and_the_other_aggregates_decode():
    events, (snapshot,) = _decoded()
    restored = snapshot.mutate(None)  # type: ignore[attr-defined]
    assert isinstance(restored, TempStrongPassword) and restored.version == 7
    user = None
    for event in (e for e in events if isinstance(e, User.Event)):
        user = event.mutate(user)  # type: ignore[attr-defined]
    assert isinstance(user, User) and not user.deleted and user.email is None
    record = None
    for event in (e for e in events if isinstance(e, IdempotencyRecord.Event)):
        record = event.mutate(record)  # type: ignore[attr-defined]
    assert isinstance(record, IdempotencyRecord) and record.credential_version == 7


def test_a_version_1_idempotency_record_remembers_no_body_and_so_matches_any():
    events, _ = _decoded()
    record = None
    for event in (e for e in events if isinstance(e, IdempotencyRecord.Event)):
        record = event.mutate(record)  # type: ignore[attr-defined]
    assert isinstance(record, IdempotencyRecord) and record.fingerprint is None
    live = record.expires_at - timedelta(minutes=1)
    assert record.replays(request_fingerprint({"extId": "any"}), live)
    assert record.replays(request_fingerprint({}), live)
    assert not record.replays(request_fingerprint({}), record.expires_at)
