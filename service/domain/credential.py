"""The Temporary Strong Password credential aggregate: every decision about a credential lives here.

Public methods are commands: they check (arguments, state, policy) and then call one private
`@event` method, which records the event and applies it. The `@event` bodies never decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .errors import (
    Conflict,
    CredentialArchived,
    CredentialLocked,
    CredentialNotUsable,
    MaxResetCountReached,
    StateNotAllowed,
    ValidationFailed,
)
from .fields import EnumAttribute, OptionalEnumAttribute
from .ids import NAMESPACE_TEMPSTRONG
from .personal import Encrypted, PersonalValue
from .policy import LockingMode, TempStrongPasswordPolicy
from .states import LOCKED_STATES, USABLE_STATES, CredentialState, StateChangeReason

CREDENTIAL_TYPE = "Temporary Strong Password"

# Event attributes that must never leave the service (hash, sealed fragment).
SECRET_EVENT_ATTRIBUTES = frozenset({"password_hash", "delivery"})


@dataclass(frozen=True)
class CarriedOver:
    """The counters a credential brings from the system it is imported from (a new one's are
    NEW)."""

    reset_count: int = 0
    successful_login_count: int = 0
    failed_login_count: int = 0
    last_successful_login: datetime | None = None
    last_failed_login: datetime | None = None

    def check(self) -> None:
        counts = (self.reset_count, self.successful_login_count, self.failed_login_count)
        if any(count < 0 for count in counts):
            raise ValidationFailed("Counts must not be negative.")


NEW = CarriedOver()


class TempStrongPassword(Aggregate):
    class Event(Aggregate.Event):
        class_version = 1

    # Version 2 of the two events that issue a secret: the sealed `delivery` holds the person's
    # address sealed to their own data key. Version 1 sealed it in the clear inside the box;
    # `tempstrong migrate` strips those from the events once they were published.
    class TempStrongPasswordCreated(Aggregate.Created):
        """Version 3 also carries what an imported credential brings along: the reason of its
        state and its counters (a new one starts `initialized`, at 0)."""

        class_version = 3
        client_ext_id: str
        user_ext_id: str
        ext_id: str
        policy_ext_id: str
        state_name: str
        password_hash: str
        valid_until: datetime
        delivery: dict[str, str] | None
        actor: str | None
        reset_count: int
        state_change_reason: str
        successful_login_count: int
        failed_login_count: int
        last_successful_login: datetime | None
        last_failed_login: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            pass  # the same fields: only what `delivery` seals differs

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["state_change_reason"] = StateChangeReason.INITIALIZED.value
            state.update({name: getattr(NEW, name) for name in CarriedOver.__dataclass_fields__})

    class TempStrongPasswordReset(Event):
        class_version = 2
        password_hash: str
        valid_until: datetime
        delivery: dict[str, str] | None
        actor: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            pass  # the same fields: only what `delivery` seals differs

    state = EnumAttribute(CredentialState)
    state_change_reason = OptionalEnumAttribute(StateChangeReason)
    state_before_lock = OptionalEnumAttribute(CredentialState)
    reason_before_lock = OptionalEnumAttribute(StateChangeReason)

    @staticmethod
    def create_id(client_ext_id: str, ext_id: str) -> UUID:
        """Credential extIds are unique per client and never reused: the id derives from them."""
        return uuid5(NAMESPACE_TEMPSTRONG, f"credential/{client_ext_id}/{ext_id}")

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        client_ext_id: str,
        user_ext_id: str,
        ext_id: str,
        policy: TempStrongPasswordPolicy,
        state_name: CredentialState | None,
        password_hash: str,
        delivery: dict[str, str] | None,
        actor: str | None,
        now: datetime,
        carried_over: CarriedOver | None = None,
    ) -> TempStrongPassword:
        """A new credential; with `carried_over`, one another system issued (`tempstrong
        import`): its stored hash, state and counters as they were. Either way its validity
        starts now. An imported fail-lock stays (only a reset or an admin ends it); a tmp-lock
        has an expiry no export carries: import the state from before it."""
        state = state_name or CredentialState.INITIAL
        if carried_over is None:
            if state in LOCKED_STATES:
                raise StateNotAllowed(f"A credential cannot be created {state}.")
            reason = StateChangeReason.INITIALIZED
        else:
            if state is CredentialState.TMP_LOCKED:
                raise StateNotAllowed(
                    "A tmp-locked credential cannot be imported: import its state."
                )
            carried_over.check()
            reason = {
                CredentialState.INITIAL: StateChangeReason.INITIALIZED,
                CredentialState.ACTIVE: StateChangeReason.ACTIVATED,
                CredentialState.FAIL_LOCKED: StateChangeReason.TOO_MANY_LOGIN_FAILURES,
            }.get(state, StateChangeReason.CHANGED_BY_ADMIN)
        return cls(
            client_ext_id=client_ext_id,
            user_ext_id=user_ext_id,
            ext_id=ext_id,
            policy_ext_id=policy.ext_id,
            state_name=state.value,
            password_hash=password_hash,
            valid_until=now + policy.credential_lifetime,
            delivery=delivery,
            actor=actor,
            state_change_reason=reason.value,
            **vars(carried_over or NEW),
        )

    @event("TempStrongPasswordCreated")
    def __init__(
        self,
        client_ext_id: str,
        user_ext_id: str,
        ext_id: str,
        policy_ext_id: str,
        state_name: str,
        password_hash: str,
        valid_until: datetime,
        delivery: dict[str, str] | None,
        actor: str | None,
        reset_count: int,
        state_change_reason: str,
        successful_login_count: int,
        failed_login_count: int,
        last_successful_login: datetime | None,
        last_failed_login: datetime | None,
    ) -> None:
        self.client_ext_id = client_ext_id
        self.user_ext_id = user_ext_id
        self.ext_id = ext_id
        self.policy_ext_id = policy_ext_id
        self.state = CredentialState(state_name)
        self.state_change_reason = StateChangeReason(state_change_reason)
        self.state_change_detail: PersonalValue = None
        self.password_hash = password_hash
        self.valid_until = valid_until
        self.reset_count = reset_count
        self.failed_login_count = failed_login_count
        self.successful_login_count = successful_login_count
        self.last_successful_login = last_successful_login
        self.last_failed_login = last_failed_login
        self.locked_until: datetime | None = None
        self.state_before_lock = None
        self.reason_before_lock = None
        self.modification_comment: PersonalValue = None
        self.created_by = actor
        self.modified_by = actor
        self.deleted = False

    # -- reads ------------------------------------------------------------------------------

    def effective_state(self, now: datetime) -> tuple[CredentialState, StateChangeReason | None]:
        """A tmp-lock ends by time alone: once expired, the state from before the lock shows."""
        if (
            self.state is CredentialState.TMP_LOCKED
            and self.locked_until is not None
            and now >= self.locked_until
            and self.state_before_lock is not None
        ):
            return self.state_before_lock, self.reason_before_lock
        return self.state, self.state_change_reason

    # -- commands ---------------------------------------------------------------------------

    def reset(
        self,
        *,
        policy: TempStrongPasswordPolicy,
        password_hash: str,
        delivery: dict[str, str] | None,
        actor: str | None,
        now: datetime,
    ) -> None:
        if self.state is CredentialState.ARCHIVED:
            raise CredentialArchived("An archived credential cannot be reset.")
        if self.reset_count >= policy.max_reset_count:
            raise MaxResetCountReached(
                f"The reset count has reached the maximum of {policy.max_reset_count}."
            )
        self._reset(
            password_hash=password_hash,
            valid_until=now + policy.credential_lifetime,
            delivery=delivery,
            actor=actor,
        )

    def verify(
        self,
        *,
        password_matches: Callable[[str], bool],
        policy: TempStrongPasswordPolicy,
        now: datetime,
    ) -> bool:
        """Checks usability, then the password; records LoginSucceeded or LoginFailed."""
        state, reason = self.effective_state(now)
        if state in LOCKED_STATES:
            raise CredentialLocked("The credential is locked.")
        if state not in USABLE_STATES or now >= self.valid_until:
            raise CredentialNotUsable("The credential is not usable.")
        if password_matches(self.password_hash):
            if state is CredentialState.INITIAL:
                state, reason = CredentialState.ACTIVE, StateChangeReason.ACTIVATED
            self._login_succeeded(
                state_name=state.value, state_change_reason=_value(reason), at=now
            )
            return True
        failed = self.failed_login_count + 1
        lock = _lock_after_failure(policy, failed, now)
        if lock is None:
            self._login_failed(
                failed_login_count=failed,
                state_name=state.value,
                state_change_reason=_value(reason),
                locked_until=None,
                state_before_lock=None,
                reason_before_lock=None,
                at=now,
            )
        else:
            lock_state, locked_until = lock
            self._login_failed(
                failed_login_count=failed,
                state_name=lock_state.value,
                state_change_reason=StateChangeReason.TOO_MANY_LOGIN_FAILURES.value,
                locked_until=locked_until,
                state_before_lock=state.value,
                reason_before_lock=_value(reason),
                at=now,
            )
        return False

    def modify(
        self,
        *,
        expected_version: int,
        state_name: CredentialState | None,
        new_policy: TempStrongPasswordPolicy | None,
        modification_comment: Encrypted | None,
        actor: str | None,
        now: datetime,
    ) -> None:
        """An admin PATCH: StateChanged and/or PolicyChanged, saved together by the caller.

        Only failed verifications lock. A PATCH that leaves the state as it is (a comment, the
        same state named again, a policy change) keeps a running lock's expiry and the failure
        count exactly as they were; a PATCH to another state ends any lock and zeroes the count.
        """
        if expected_version != self.version:
            raise Conflict(
                f"The credential was modified concurrently (version {self.version}, "
                f"request names {expected_version})."
            )
        if state_name is None and new_policy is None and modification_comment is None:
            raise ValidationFailed("Nothing to modify: give stateName, policyExtId or a comment.")
        if state_name in LOCKED_STATES:
            raise StateNotAllowed(f"A PATCH cannot set {state_name}: only failed logins lock.")
        current, _ = self.effective_state(now)
        if state_name is not None and state_name is not current:
            self._state_changed(
                state_name=state_name.value,
                state_change_reason=StateChangeReason.CHANGED_BY_ADMIN.value,
                locked_until=None,
                state_before_lock=None,
                reason_before_lock=None,
                failed_login_count=0,
                modification_comment=modification_comment,
                actor=actor,
            )
        elif state_name is not None or modification_comment is not None:
            self._state_changed(
                state_name=self.state.value,
                state_change_reason=_value(self.state_change_reason),
                locked_until=self.locked_until,
                state_before_lock=(
                    self.state_before_lock.value if self.state_before_lock else None
                ),
                reason_before_lock=_value(self.reason_before_lock),
                failed_login_count=self.failed_login_count,
                modification_comment=modification_comment,
                actor=actor,
            )
        if new_policy is not None and new_policy.ext_id != self.policy_ext_id:
            self._policy_changed(policy_ext_id=new_policy.ext_id, actor=actor)

    def delete(self, *, actor: str | None) -> None:
        self._deleted(actor=actor)

    # -- events -----------------------------------------------------------------------------

    @event(TempStrongPasswordReset)
    def _reset(
        self,
        password_hash: str,
        valid_until: datetime,
        delivery: dict[str, str] | None,
        actor: str | None,
    ) -> None:
        self.password_hash = password_hash
        self.valid_until = valid_until
        self.state = CredentialState.INITIAL
        self.state_change_reason = StateChangeReason.RESET
        self.state_change_detail = None
        self.failed_login_count = 0
        self.successful_login_count = 0
        self.reset_count += 1
        self._clear_lock()
        self.modified_by = actor

    @event("LoginSucceeded")
    def _login_succeeded(
        self, state_name: str, state_change_reason: str | None, at: datetime
    ) -> None:
        self.state = CredentialState(state_name)
        self.state_change_reason = _reason(state_change_reason)
        self.failed_login_count = 0
        self.successful_login_count += 1
        self.last_successful_login = at
        self._clear_lock()

    @event("LoginFailed")
    def _login_failed(
        self,
        failed_login_count: int,
        state_name: str,
        state_change_reason: str | None,
        locked_until: datetime | None,
        state_before_lock: str | None,
        reason_before_lock: str | None,
        at: datetime,
    ) -> None:
        self.failed_login_count = failed_login_count
        self.state = CredentialState(state_name)
        self.state_change_reason = _reason(state_change_reason)
        self.last_failed_login = at
        self.locked_until = locked_until
        self.state_before_lock = CredentialState(state_before_lock) if state_before_lock else None
        self.reason_before_lock = _reason(reason_before_lock)

    class StateChanged(Event):
        """An admin PATCH of the state or the comment, carrying the resulting lock and count."""

        class_version = 2
        state_name: str
        state_change_reason: str | None
        locked_until: datetime | None
        state_before_lock: str | None
        reason_before_lock: str | None
        failed_login_count: int | None
        modification_comment: PersonalValue
        actor: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 did not carry these: the lock's reason followed the new reason, and the
            # count followed the rule of the time (None: see `_state_changed`).
            locked = state.get("state_before_lock") is not None
            state["reason_before_lock"] = state.get("state_change_reason") if locked else None
            state["failed_login_count"] = None

    @event(StateChanged)
    def _state_changed(
        self,
        state_name: str,
        state_change_reason: str | None,
        locked_until: datetime | None,
        state_before_lock: str | None,
        reason_before_lock: str | None,
        failed_login_count: int | None,
        modification_comment: PersonalValue,
        actor: str | None,
    ) -> None:
        new_state = CredentialState(state_name)
        if failed_login_count is not None:
            self.failed_login_count = failed_login_count
        elif new_state is not self.state and new_state in USABLE_STATES:
            self.failed_login_count = 0  # the rule of version 1 events
        self.state = new_state
        self.state_change_reason = _reason(state_change_reason)
        self.locked_until = locked_until
        self.state_before_lock = CredentialState(state_before_lock) if state_before_lock else None
        self.reason_before_lock = _reason(reason_before_lock)
        if modification_comment is not None:
            self.modification_comment = modification_comment
        self.modified_by = actor

    @event("PolicyChanged")
    def _policy_changed(self, policy_ext_id: str, actor: str | None) -> None:
        self.policy_ext_id = policy_ext_id
        self.modified_by = actor

    @event("TempStrongPasswordDeleted")
    def _deleted(self, actor: str | None) -> None:
        self.deleted = True
        self.modified_by = actor

    def _clear_lock(self) -> None:
        self.locked_until = None
        self.state_before_lock = None
        self.reason_before_lock = None


def _lock_after_failure(
    policy: TempStrongPasswordPolicy, failed: int, now: datetime
) -> tuple[CredentialState, datetime | None] | None:
    if failed >= policy.max_cred_failure_count:
        return CredentialState.FAIL_LOCKED, None
    threshold = policy.tmp_locking_threshold
    if policy.tmp_locking_mode is LockingMode.THRESHOLD:
        reached = failed % threshold == 0
    else:
        reached = failed >= threshold
    if reached:
        return CredentialState.TMP_LOCKED, now + policy.tmp_locking_duration
    return None


def _value(reason: StateChangeReason | None) -> str | None:
    return reason.value if reason is not None else None


def _reason(value: str | None) -> StateChangeReason | None:
    return StateChangeReason(value) if value is not None else None
