"""The TempStrongPasswordPolicy with nevisIDM parameter names and defaults (the policy file:
docs/operations.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

POLICY_TYPE = "TempStrongPasswordPolicy"
BUILTIN_POLICY_EXT_ID = "default"
DEFAULT_CHARACTER_SET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class SendingMethod(StrEnum):
    EMAIL = "Email"
    SMS = "SMS"
    PDF_STORE = "PDFstore"
    NONE = "None"


class LockingMode(StrEnum):
    STRICT = "strict"
    THRESHOLD = "threshold"


class HashAlgorithm(StrEnum):
    SSHA256 = "SSHA256"
    HMAC_SHA256 = "HMAC-SHA256"


class PolicyError(ValueError):
    """An invalid policy parameter; `key` names it the way the policy file does."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class TempStrongPasswordPolicy:
    ext_id: str = BUILTIN_POLICY_EXT_ID
    credential_lifetime_ms: int = 432_000_000
    hash_algorithm: HashAlgorithm = HashAlgorithm.SSHA256
    sending_method: SendingMethod = SendingMethod.EMAIL
    ticket_character_set: str = DEFAULT_CHARACTER_SET
    ticket_len0: int = 30
    ticket_len1: int = 8
    plain_value_exposed_to_caller: bool = True
    max_reset_count: int = 5
    max_cred_failure_count: int = 3
    tmp_locking_threshold: int = 2
    tmp_locking_duration_ms: int = 60_000
    tmp_locking_mode: LockingMode = LockingMode.STRICT

    @property
    def credential_lifetime(self) -> timedelta:
        return timedelta(milliseconds=self.credential_lifetime_ms)

    @property
    def tmp_locking_duration(self) -> timedelta:
        return timedelta(milliseconds=self.tmp_locking_duration_ms)

    @property
    def has_out_of_band_channel(self) -> bool:
        return self.sending_method is not SendingMethod.NONE


# nevisIDM parameter name -> dataclass field; one table serves parsing and error messages.
PARAMETER_FIELDS: dict[str, str] = {
    "credentialLifetime": "credential_lifetime_ms",
    "hashAlgorithm": "hash_algorithm",
    "sendingMethod": "sending_method",
    "ticketCharacterSet": "ticket_character_set",
    "ticketLen0": "ticket_len0",
    "ticketLen1": "ticket_len1",
    "plainValueExposedToCaller": "plain_value_exposed_to_caller",
    "maxResetCount": "max_reset_count",
    "maxCredFailureCount": "max_cred_failure_count",
    "tmpLockingThreshold": "tmp_locking_threshold",
    "tmpLockingDuration": "tmp_locking_duration_ms",
    "tmpLockingMode": "tmp_locking_mode",
}

_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "hash_algorithm": HashAlgorithm,
    "sending_method": SendingMethod,
    "tmp_locking_mode": LockingMode,
}
_MINIMUM: dict[str, int] = {
    "credential_lifetime_ms": 1,
    "ticket_len0": 1,
    "ticket_len1": 1,
    "max_reset_count": 0,
    "max_cred_failure_count": 1,
    "tmp_locking_threshold": 1,
    "tmp_locking_duration_ms": 0,
}
_MAX_TICKET_LEN = 256


def parse_policy(ext_id: str, parameters: dict[str, Any]) -> TempStrongPasswordPolicy:
    """Builds a policy from nevisIDM-named parameters, raising PolicyError on the first problem."""
    values: dict[str, Any] = {"ext_id": ext_id}
    for key, raw in parameters.items():
        if key == "type":
            continue
        field_name = PARAMETER_FIELDS.get(key)
        if field_name is None:
            raise PolicyError(key, f"unknown parameter (known: {', '.join(PARAMETER_FIELDS)})")
        values[field_name] = _coerce(key, field_name, raw)
    policy = TempStrongPasswordPolicy(**values)
    _check_combination(policy)
    return policy


def _coerce(key: str, field_name: str, raw: Any) -> Any:
    enum_type = _ENUM_FIELDS.get(field_name)
    if enum_type is not None:
        allowed = [member.value for member in enum_type]
        if not isinstance(raw, str) or raw not in allowed:
            raise PolicyError(key, f"must be one of {', '.join(allowed)}, got {raw!r}")
        return enum_type(raw)
    if field_name == "plain_value_exposed_to_caller":
        if not isinstance(raw, bool):
            raise PolicyError(key, f"must be true or false, got {raw!r}")
        return raw
    if field_name == "ticket_character_set":
        if not isinstance(raw, str) or len(set(raw)) < 2 or len(set(raw)) != len(raw):
            raise PolicyError(key, "must be a string of at least 2 distinct characters")
        if any(not ch.isprintable() or ch.isspace() for ch in raw):
            raise PolicyError(key, "must hold printable, non-space characters only")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise PolicyError(key, f"must be an integer, got {raw!r}")
    minimum = _MINIMUM[field_name]
    if raw < minimum:
        raise PolicyError(key, f"must be at least {minimum}, got {raw}")
    if field_name in ("ticket_len0", "ticket_len1") and raw > _MAX_TICKET_LEN:
        raise PolicyError(key, f"must be at most {_MAX_TICKET_LEN}, got {raw}")
    return raw


def _check_combination(policy: TempStrongPasswordPolicy) -> None:
    if not policy.has_out_of_band_channel and not policy.plain_value_exposed_to_caller:
        raise PolicyError(
            "plainValueExposedToCaller",
            "false with sendingMethod None is invalid: nobody could learn the password",
        )
