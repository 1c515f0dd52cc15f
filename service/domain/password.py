"""Fragment generation (CSPRNG), salted hashing with an algorithm prefix, constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from .policy import HashAlgorithm, TempStrongPasswordPolicy

SALT_BYTES = 16
_DIGEST_BYTES = 32
_PREFIXES = {HashAlgorithm.SSHA256: "{SSHA256}", HashAlgorithm.HMAC_SHA256: "{HMAC-SHA256}"}


@dataclass(frozen=True)
class GeneratedPassword:
    """A new temporary strong password: the user logs in with fragment0 + fragment1."""

    fragment0: str = field(repr=False)
    fragment1: str = field(repr=False)

    @property
    def whole(self) -> str:
        return self.fragment0 + self.fragment1

    def __repr__(self) -> str:
        return "GeneratedPassword(<redacted>)"


def generate_password(policy: TempStrongPasswordPolicy) -> GeneratedPassword:
    charset = policy.ticket_character_set
    whole = random_string(charset, policy.ticket_len0 + policy.ticket_len1)
    return GeneratedPassword(
        fragment0=whole[: policy.ticket_len0], fragment1=whole[policy.ticket_len0 :]
    )


def random_string(charset: str, length: int) -> str:
    """`length` characters drawn uniformly from `charset` with the CSPRNG.

    One `token_bytes` call instead of one `secrets.choice` per character (a fifth of a reset's
    CPU went there). Bytes at or above the largest multiple of len(charset) are dropped, so
    `byte % len(charset)` stays uniform.
    """
    size = len(charset)
    if size > 256:
        return "".join(secrets.choice(charset) for _ in range(length))
    limit = 256 - 256 % size
    chosen: list[str] = []
    while len(chosen) < length:
        for byte in secrets.token_bytes(2 * (length - len(chosen)) + 8):
            if byte < limit:
                chosen.append(charset[byte % size])
                if len(chosen) == length:
                    break
    return "".join(chosen)


def is_stored_hash(value: str) -> bool:
    """A hash as this service stores it (and nevisIDM exports it): a known prefix, then the
    standard base64 of a 32-byte digest and a salt of at least 8 bytes."""
    prefix = next((p for p in _PREFIXES.values() if value.startswith(p)), None)
    if prefix is None:
        return False
    try:
        raw = base64.b64decode(value[len(prefix) :], validate=True)
    except ValueError:
        return False
    return len(raw) >= _DIGEST_BYTES + 8


class PasswordHasher:
    """Hashes and verifies with `{SSHA256}` or `{HMAC-SHA256}` (keyed by the server secret)."""

    def __init__(self, hmac_key: bytes | None) -> None:
        self._hmac_key = hmac_key

    def __repr__(self) -> str:
        return "PasswordHasher(<key redacted>)"

    def hash(self, password: str, algorithm: HashAlgorithm) -> str:
        salt = secrets.token_bytes(SALT_BYTES)
        digest = self._digest(password.encode(), salt, algorithm)
        return _PREFIXES[algorithm] + base64.b64encode(digest + salt).decode("ascii")

    def verify(self, password: str, stored: str) -> bool:
        matching = [(a, p) for a, p in _PREFIXES.items() if stored.startswith(p)]
        if not matching:
            return False
        algorithm, prefix = matching[0]
        try:
            raw = base64.b64decode(stored[len(prefix) :], validate=True)
        except ValueError:
            return False
        if len(raw) < _DIGEST_BYTES + 8:
            return False
        expected, salt = raw[:_DIGEST_BYTES], raw[_DIGEST_BYTES:]
        actual = self._digest(password.encode(), salt, algorithm)
        return hmac.compare_digest(actual, expected)

    def _digest(self, password: bytes, salt: bytes, algorithm: HashAlgorithm) -> bytes:
        if algorithm is HashAlgorithm.SSHA256:
            return hashlib.sha256(password + salt).digest()
        if self._hmac_key is None:
            raise RuntimeError("HMAC-SHA256 needs TEMPSTRONG_HASH_KEY")
        return hmac.new(self._hmac_key, password + salt, hashlib.sha256).digest()
