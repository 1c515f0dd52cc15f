"""Property tests: the state machine's invariants hold for any sequence of commands."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from service.domain.errors import DomainError, StateNotAllowed
from service.domain.policy import LockingMode, TempStrongPasswordPolicy
from service.domain.states import LOCKED_STATES, CredentialState
from tests.unit.test_credential import T0, new, right, wrong


class CredentialMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.policy = TempStrongPasswordPolicy(
            ext_id="p",
            max_reset_count=3,
            max_cred_failure_count=4,
            tmp_locking_threshold=2,
            tmp_locking_mode=LockingMode.STRICT,
        )
        self.credential = new(self.policy)
        self.now = T0
        self.last_version = self.credential.version

    @rule()
    def reset(self) -> None:
        with contextlib.suppress(DomainError):
            self.credential.reset(
                policy=self.policy,
                password_hash="{SSHA256}right",
                delivery=None,
                actor="a",
                now=self.now,
            )

    @rule(correct=st.booleans())
    def verify(self, correct: bool) -> None:
        state, _ = self.credential.effective_state(self.now)
        before = self.credential.version
        try:
            self.credential.verify(
                password_matches=right if correct else wrong, policy=self.policy, now=self.now
            )
        except DomainError:
            assert self.credential.version == before
            return
        assert state not in LOCKED_STATES, "a locked credential accepted a verification"

    @rule(seconds=st.integers(min_value=0, max_value=200))
    def wait(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(state=st.sampled_from(list(CredentialState)))
    def patch(self, state: CredentialState) -> None:
        before = self.credential.version
        try:
            self.credential.modify(
                expected_version=self.credential.version,
                state_name=state,
                new_policy=None,
                modification_comment=None,
                actor="a",
                now=self.now,
            )
        except StateNotAllowed:
            assert state in LOCKED_STATES and self.credential.version == before

    @rule()
    def comment(self) -> None:
        kept = (
            self.credential.state,
            self.credential.locked_until,
            self.credential.failed_login_count,
            self.credential.effective_state(self.now),
        )
        self.credential.modify(
            expected_version=self.credential.version,
            state_name=None,
            new_policy=None,
            modification_comment="a comment",
            actor="a",
            now=self.now,
        )
        assert kept == (
            self.credential.state,
            self.credential.locked_until,
            self.credential.failed_login_count,
            self.credential.effective_state(self.now),
        ), "a comment changed the lock, its expiry or the failure count"

    @invariant()
    def reset_count_never_exceeds_max(self) -> None:
        assert self.credential.reset_count <= self.policy.max_reset_count

    @invariant()
    def version_only_grows(self) -> None:
        assert self.credential.version >= self.last_version
        self.last_version = self.credential.version

    @invariant()
    def failures_below_max_unless_fail_locked(self) -> None:
        if self.credential.failed_login_count >= self.policy.max_cred_failure_count:
            assert self.credential.state is CredentialState.FAIL_LOCKED


CredentialMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
test_credential_state_machine = CredentialMachine.TestCase


def test_every_event_increments_version_by_one():
    credential = new()
    for _ in range(3):
        credential.verify(
            password_matches=wrong,
            policy=TempStrongPasswordPolicy(
                ext_id="p", max_cred_failure_count=99, tmp_locking_threshold=99
            ),
            now=T0,
        )
    versions = [e.originator_version for e in credential.collect_events()]
    assert versions == [2, 3, 4]
