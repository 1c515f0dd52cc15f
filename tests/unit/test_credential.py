"""The credential aggregate: given a history, a command, then the expected events or error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.domain.credential import TempStrongPassword
from service.domain.errors import (
    Conflict,
    CredentialArchived,
    CredentialLocked,
    CredentialNotUsable,
    MaxResetCountReached,
    StateNotAllowed,
    ValidationFailed,
)
from service.domain.policy import LockingMode, TempStrongPasswordPolicy
from service.domain.states import LOCKED_STATES
from service.domain.states import CredentialState as S
from service.domain.states import StateChangeReason as R

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = TempStrongPasswordPolicy(ext_id="p")


def new(policy: TempStrongPasswordPolicy = POLICY, state: S | None = None) -> TempStrongPassword:
    """A credential in `state`; a locked one got there the only way there is: failed logins."""
    locked = state in LOCKED_STATES
    credential = TempStrongPassword.create(
        client_ext_id="acme",
        user_ext_id="u1",
        ext_id="c1",
        policy=policy,
        state_name=None if locked else state,
        password_hash="{SSHA256}right",
        delivery=None,
        actor="admin",
        now=T0,
    )
    while locked and credential.state is not state:
        policy = TempStrongPasswordPolicy(
            ext_id=policy.ext_id,
            max_cred_failure_count=1 if state is S.FAIL_LOCKED else 10,
            tmp_locking_threshold=1,
        )
        credential.verify(password_matches=wrong, policy=policy, now=T0)
    credential.collect_events()
    return credential


def right(stored: str) -> bool:
    return stored == "{SSHA256}right"


def wrong(stored: str) -> bool:
    return False


def events_of(credential: TempStrongPassword) -> list[str]:
    return [type(e).__name__ for e in credential.collect_events()]


def reset(credential: TempStrongPassword, policy=POLICY, now=T0) -> None:  # type: ignore[no-untyped-def]
    credential.reset(
        policy=policy, password_hash="{SSHA256}right", delivery=None, actor="a", now=now
    )


def test_create_starts_initial_and_valid_for_the_lifetime():
    credential = TempStrongPassword.create(
        client_ext_id="acme",
        user_ext_id="u1",
        ext_id="c1",
        policy=POLICY,
        state_name=None,
        password_hash="h",
        delivery=None,
        actor="admin",
        now=T0,
    )
    assert events_of(credential) == ["TempStrongPasswordCreated"]
    assert credential.state is S.INITIAL
    assert credential.state_change_reason is R.INITIALIZED
    assert credential.valid_until == T0 + timedelta(days=5)
    assert credential.version == 1


def test_create_with_a_named_state():
    assert new(state=S.DISABLED).state is S.DISABLED


def test_id_derives_from_client_and_ext_id():
    assert TempStrongPassword.create_id("acme", "c1") == new().id
    assert TempStrongPassword.create_id("other", "c1") != new().id


def test_reset_sets_initial_zeroes_counters_and_counts():
    credential = new()
    credential.verify(password_matches=right, policy=POLICY, now=T0)
    credential.verify(password_matches=wrong, policy=POLICY, now=T0)
    credential.collect_events()
    later = T0 + timedelta(days=1)
    reset(credential, now=later)
    assert events_of(credential) == ["TempStrongPasswordReset"]
    assert credential.state is S.INITIAL and credential.state_change_reason is R.RESET
    assert credential.failed_login_count == 0 and credential.successful_login_count == 0
    assert credential.reset_count == 1
    assert credential.valid_until == later + POLICY.credential_lifetime


@pytest.mark.parametrize("state", [s for s in S if s is not S.ARCHIVED])
def test_reset_works_from_every_state_but_archived(state):
    credential = new(state=state)
    reset(credential)
    assert credential.state is S.INITIAL


def test_reset_from_archived_is_refused():
    credential = new(state=S.ARCHIVED)
    with pytest.raises(CredentialArchived):
        reset(credential)
    assert events_of(credential) == []


def test_reset_stops_at_max_reset_count():
    policy = TempStrongPasswordPolicy(ext_id="p", max_reset_count=2)
    credential = new(policy)
    reset(credential, policy)
    reset(credential, policy)
    with pytest.raises(MaxResetCountReached):
        reset(credential, policy)
    assert events_of(credential) == ["TempStrongPasswordReset"] * 2
    assert credential.reset_count == 2


def test_max_reset_count_zero_refuses_every_reset():
    policy = TempStrongPasswordPolicy(ext_id="p", max_reset_count=0)
    with pytest.raises(MaxResetCountReached):
        reset(new(policy), policy)


def test_first_success_activates_and_later_successes_keep_active():
    credential = new()
    assert credential.verify(password_matches=right, policy=POLICY, now=T0)
    assert credential.state is S.ACTIVE and credential.state_change_reason is R.ACTIVATED
    assert credential.verify(password_matches=right, policy=POLICY, now=T0)
    assert credential.successful_login_count == 2
    assert credential.last_successful_login == T0
    assert events_of(credential) == ["LoginSucceeded", "LoginSucceeded"]


def test_success_zeroes_failed_login_count():
    policy = TempStrongPasswordPolicy(ext_id="p", tmp_locking_threshold=5, max_cred_failure_count=9)
    credential = new(policy)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    assert credential.failed_login_count == 2
    credential.verify(password_matches=right, policy=policy, now=T0)
    assert credential.failed_login_count == 0


def test_wrong_password_counts_and_records_the_date():
    policy = TempStrongPasswordPolicy(ext_id="p", tmp_locking_threshold=5, max_cred_failure_count=9)
    credential = new(policy)
    assert not credential.verify(password_matches=wrong, policy=policy, now=T0)
    assert credential.failed_login_count == 1 and credential.last_failed_login == T0
    assert credential.state is S.INITIAL
    assert events_of(credential) == ["LoginFailed"]


def _policy(
    mode: LockingMode, threshold: int = 2, max_failures: int = 10
) -> TempStrongPasswordPolicy:
    return TempStrongPasswordPolicy(
        ext_id="p",
        tmp_locking_mode=mode,
        tmp_locking_threshold=threshold,
        max_cred_failure_count=max_failures,
        tmp_locking_duration_ms=60_000,
    )


def _fail_until_locked(credential, policy, now):  # type: ignore[no-untyped-def]
    credential.verify(password_matches=wrong, policy=policy, now=now)
    return credential.state


def test_strict_mode_locks_at_threshold_and_after_each_later_failure():
    policy = _policy(LockingMode.STRICT)
    credential = new(policy)
    now = T0
    assert _fail_until_locked(credential, policy, now) is S.INITIAL
    assert _fail_until_locked(credential, policy, now) is S.TMP_LOCKED
    assert credential.locked_until == now + timedelta(minutes=1)
    assert credential.state_change_reason is R.TOO_MANY_LOGIN_FAILURES
    with pytest.raises(CredentialLocked):
        credential.verify(password_matches=right, policy=policy, now=now + timedelta(seconds=59))
    now += timedelta(seconds=61)
    # the lock ended by time alone: reads show the state from before the lock
    assert credential.effective_state(now) == (S.INITIAL, R.INITIALIZED)
    # strict: one try after the lock expired, then locked again
    assert _fail_until_locked(credential, policy, now) is S.TMP_LOCKED
    assert credential.failed_login_count == 3


def test_threshold_mode_locks_at_multiples_of_the_threshold():
    policy = _policy(LockingMode.THRESHOLD)
    credential = new(policy)
    now = T0
    states = []
    for _ in range(6):
        states.append(_fail_until_locked(credential, policy, now))
        now += timedelta(minutes=2)
    assert states == [S.INITIAL, S.TMP_LOCKED, S.INITIAL, S.TMP_LOCKED, S.INITIAL, S.TMP_LOCKED]


def test_max_failures_fail_locks_and_only_reset_or_patch_leave_it():
    policy = _policy(LockingMode.STRICT, threshold=2, max_failures=3)
    credential = new(policy)
    now = T0
    _fail_until_locked(credential, policy, now)
    _fail_until_locked(credential, policy, now)
    now += timedelta(minutes=2)
    assert _fail_until_locked(credential, policy, now) is S.FAIL_LOCKED
    assert credential.state_change_reason is R.TOO_MANY_LOGIN_FAILURES
    now += timedelta(days=1)
    with pytest.raises(CredentialLocked):
        credential.verify(password_matches=right, policy=policy, now=now)
    credential.modify(
        expected_version=credential.version,
        state_name=S.ACTIVE,
        new_policy=None,
        modification_comment="unlocked",
        actor="admin",
        now=now,
    )
    assert credential.state is S.ACTIVE and credential.failed_login_count == 0
    assert credential.verify(password_matches=right, policy=policy, now=now)


def test_a_lock_is_part_of_the_login_failed_that_caused_it():
    policy = _policy(LockingMode.STRICT)
    credential = new(policy)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    events = credential.collect_events()
    assert [type(e).__name__ for e in events] == ["LoginFailed", "LoginFailed"]
    assert events[-1].state_name == "tmp-locked"  # type: ignore[attr-defined]


@pytest.mark.parametrize("state", [S.DISABLED, S.ARCHIVED, S.RESET_CODE, S.ADMIN_CHANGED])
def test_unusable_states_refuse_without_checking_the_password(state):
    credential = new(state=state)
    checked = []
    with pytest.raises(CredentialNotUsable):
        credential.verify(
            password_matches=lambda h: checked.append(h) or True, policy=POLICY, now=T0
        )
    assert checked == [] and events_of(credential) == []
    assert credential.failed_login_count == 0


def test_expired_validity_is_not_usable():
    credential = new()
    with pytest.raises(CredentialNotUsable):
        credential.verify(password_matches=right, policy=POLICY, now=T0 + timedelta(days=5))


def test_locked_refusal_does_not_count_as_failure():
    policy = _policy(LockingMode.STRICT)
    credential = new(policy)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    with pytest.raises(CredentialLocked):
        credential.verify(password_matches=wrong, policy=policy, now=T0)
    assert credential.failed_login_count == 2


def test_patch_with_stale_version_conflicts():
    credential = new()
    with pytest.raises(Conflict):
        credential.modify(
            expected_version=0,
            state_name=S.DISABLED,
            new_policy=None,
            modification_comment=None,
            actor="a",
            now=T0,
        )


def test_comment_only_patch_emits_state_changed_with_unchanged_state():
    credential = new()
    credential.modify(
        expected_version=1,
        state_name=None,
        new_policy=None,
        modification_comment="hello",
        actor="a",
        now=T0,
    )
    assert events_of(credential) == ["StateChanged"]
    assert credential.state is S.INITIAL and credential.modification_comment == "hello"
    assert credential.state_change_reason is R.INITIALIZED


def test_patch_of_state_and_policy_emits_both_events():
    credential = new()
    other = TempStrongPasswordPolicy(ext_id="other")
    credential.modify(
        expected_version=1,
        state_name=S.DISABLED,
        new_policy=other,
        modification_comment=None,
        actor="a",
        now=T0,
    )
    assert events_of(credential) == ["StateChanged", "PolicyChanged"]
    assert credential.policy_ext_id == "other" and credential.version == 3


def test_patch_with_nothing_to_change_is_refused():
    with pytest.raises(ValidationFailed):
        new().modify(
            expected_version=1,
            state_name=None,
            new_policy=None,
            modification_comment=None,
            actor="a",
            now=T0,
        )


def test_events_are_versioned_for_upcasting():
    credential = new()
    reset(credential)
    (event,) = credential.collect_events()
    # version 2: the sealed delivery holds the address under the person's own data key
    assert type(event).class_version == 2  # type: ignore[attr-defined]


# -- PATCH and locks (issue 11, finding 5) ---------------------------------------


def _patch(credential, now, state=None, comment=None, policy=None):  # type: ignore[no-untyped-def]
    credential.modify(
        expected_version=credential.version,
        state_name=state,
        new_policy=policy,
        modification_comment=comment,
        actor="admin",
        now=now,
    )


def test_a_comment_while_tmp_locked_keeps_the_lock_and_its_expiry():
    policy = _policy(LockingMode.STRICT)
    credential = new(policy)
    for _ in range(2):
        credential.verify(password_matches=wrong, policy=policy, now=T0)
    until = credential.locked_until
    _patch(credential, T0 + timedelta(seconds=10), comment="called the user")
    assert credential.state is S.TMP_LOCKED and credential.locked_until == until
    assert credential.failed_login_count == 2
    with pytest.raises(CredentialLocked):
        credential.verify(password_matches=right, policy=policy, now=T0 + timedelta(seconds=30))
    # the lock still ends by time alone
    later = T0 + timedelta(seconds=61)
    assert credential.effective_state(later) == (S.INITIAL, R.INITIALIZED)
    assert credential.verify(password_matches=right, policy=policy, now=later)


def test_a_comment_after_a_lock_expired_keeps_the_failure_count():
    policy = _policy(LockingMode.STRICT, threshold=2, max_failures=3)
    credential = new(policy)
    for _ in range(2):
        credential.verify(password_matches=wrong, policy=policy, now=T0)
    later = T0 + timedelta(minutes=2)
    _patch(credential, later, comment="note")
    assert credential.failed_login_count == 2
    assert credential.effective_state(later) == (S.INITIAL, R.INITIALIZED)
    # the next failure is the third: fail-locked, no extra guesses were gained by the comment
    credential.verify(password_matches=wrong, policy=policy, now=later)
    assert credential.state is S.FAIL_LOCKED


def test_naming_the_current_state_again_keeps_lock_and_count():
    policy = _policy(LockingMode.STRICT)
    credential = new(policy)
    credential.verify(password_matches=wrong, policy=policy, now=T0)
    _patch(credential, T0, state=S.INITIAL, comment="same state")
    assert credential.failed_login_count == 1
    assert credential.state_change_reason is R.INITIALIZED


@pytest.mark.parametrize("state", [S.TMP_LOCKED, S.FAIL_LOCKED])
def test_a_patch_never_sets_a_locked_state(state):
    credential = new()
    with pytest.raises(StateNotAllowed):
        _patch(credential, T0, state=state)
    assert events_of(credential) == []


@pytest.mark.parametrize("state", [S.TMP_LOCKED, S.FAIL_LOCKED])
def test_a_credential_is_never_created_locked(state):
    with pytest.raises(StateNotAllowed):
        TempStrongPassword.create(
            client_ext_id="acme",
            user_ext_id="u1",
            ext_id="c1",
            policy=POLICY,
            state_name=state,
            password_hash="{SSHA256}right",
            delivery=None,
            actor="admin",
            now=T0,
        )


@pytest.mark.parametrize("target", [S.ACTIVE, S.DISABLED])
def test_a_patch_to_another_state_ends_the_lock_and_zeroes_the_count(target):
    policy = _policy(LockingMode.STRICT)
    credential = new(policy)
    for _ in range(2):
        credential.verify(password_matches=wrong, policy=policy, now=T0)
    _patch(credential, T0, state=target)
    assert credential.state is target and credential.locked_until is None
    assert credential.failed_login_count == 0 and credential.state_before_lock is None
    assert credential.state_change_reason is R.CHANGED_BY_ADMIN


def test_a_policy_only_patch_leaves_lock_and_count_alone():
    policy = _policy(LockingMode.STRICT)
    credential = new(policy)
    for _ in range(2):
        credential.verify(password_matches=wrong, policy=policy, now=T0)
    until = credential.locked_until
    credential.collect_events()
    _patch(credential, T0, policy=TempStrongPasswordPolicy(ext_id="other"))
    assert events_of(credential) == ["PolicyChanged"]
    assert credential.locked_until == until and credential.failed_login_count == 2
