"""Credential states and state change reasons (nevisIDM names)."""

from __future__ import annotations

from enum import StrEnum


class CredentialState(StrEnum):
    INITIAL = "initial"
    ACTIVE = "active"
    TMP_LOCKED = "tmp-locked"
    FAIL_LOCKED = "fail-locked"
    RESET_CODE = "reset-code"
    ADMIN_CHANGED = "admin-changed"
    DISABLED = "disabled"
    ARCHIVED = "archived"


USABLE_STATES = frozenset({CredentialState.INITIAL, CredentialState.ACTIVE})
LOCKED_STATES = frozenset({CredentialState.TMP_LOCKED, CredentialState.FAIL_LOCKED})


class StateChangeReason(StrEnum):
    INITIALIZED = "initialized"
    RESET = "reset"
    ACTIVATED = "activated"
    TOO_MANY_LOGIN_FAILURES = "too-many-login-failures"
    CHANGED_BY_ADMIN = "changed-by-admin"
