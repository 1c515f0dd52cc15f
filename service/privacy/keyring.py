"""TEMPSTRONG_PERSONAL_DATA_KEYS: the keyring that wraps every person's data key.

A JSON file `{"keys": [{"id": "...", "key": "<standard base64 of 32 random bytes>"}, ...]}` (or
that JSON itself as the variable's value, as a Kubernetes Secret key gives it). The
first key wraps new data keys (and `tempstrong rewrap` re-wraps old ones with it); every listed
key unwraps. Wrapping is XChaCha20-Poly1305 (libsodium, through PyNaCl) with the data key's id as
authenticated data, so a wrapped key cannot be swapped onto another person's row.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from nacl import bindings
from nacl.exceptions import CryptoError

KEY_BYTES = bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES  # 32
NONCE_BYTES = bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24
KEY_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_WRAP_CONTEXT = b"tempstrong data key v1 "


class KeyringError(ValueError):
    """The keyring cannot be used; the message names the problem, never a key."""


class UnwrapError(Exception):
    """A wrapped key that no key of the ring opens (its wrapping key left the ring, or the row
    was tampered with)."""


@dataclass(frozen=True)
class WrappingKey:
    key_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class WrappedKey:
    """A person's data key as the store keeps it: only ever wrapped."""

    key_id: UUID  # the data key's own id, named by every value sealed to it
    subject_id: UUID  # the user aggregate it belongs to
    wrapping_key_id: str  # which key of the ring wrapped it
    wrapped: bytes = field(repr=False)


class Keyring:
    def __init__(self, keys: list[WrappingKey]) -> None:
        if not keys:
            raise KeyringError("the keyring holds no key")
        ids = [key.key_id for key in keys]
        if len(set(ids)) != len(ids):
            raise KeyringError("two keys of the keyring share an id")
        self._keys = {key.key_id: key for key in keys}
        self.current = keys[0]

    def __repr__(self) -> str:
        return f"Keyring(ids={list(self._keys)})"

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def wrap(self, data_key_id: UUID, subject_id: UUID, secret: bytes) -> WrappedKey:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            secret, _wrap_context(data_key_id, subject_id), nonce, self.current.secret
        )
        return WrappedKey(data_key_id, subject_id, self.current.key_id, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        key = self._keys.get(wrapped.wrapping_key_id)
        if key is None:
            raise UnwrapError(f"no key {wrapped.wrapping_key_id!r} in the keyring")
        nonce, sealed = wrapped.wrapped[:NONCE_BYTES], wrapped.wrapped[NONCE_BYTES:]
        try:
            return bytes(
                bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                    sealed, _wrap_context(wrapped.key_id, wrapped.subject_id), nonce, key.secret
                )
            )
        except CryptoError:
            raise UnwrapError(f"data key {wrapped.key_id} does not open") from None

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key, wrapped by the ring's first key."""
        return self.wrap(wrapped.key_id, wrapped.subject_id, self.unwrap(wrapped))


def _wrap_context(data_key_id: UUID, subject_id: UUID) -> bytes:
    return _WRAP_CONTEXT + data_key_id.bytes + subject_id.bytes


def parse_keyring(document: object, where: str = "TEMPSTRONG_PERSONAL_DATA_KEYS") -> Keyring:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyringError(f'{where}: must be a JSON object {{"keys": [{{"id", "key"}}, ...]}}')
    keys = []
    for index, entry in enumerate(document["keys"]):
        if not isinstance(entry, dict) or set(entry) != {"id", "key"}:
            raise KeyringError(f"{where}: keys[{index}] must have exactly 'id' and 'key'")
        key_id, encoded = entry["id"], entry["key"]
        if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
            raise KeyringError(f"{where}: keys[{index}].id must match {KEY_ID.pattern}")
        try:
            secret = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{where}: keys[{index}].key is not standard base64") from None
        if len(secret) != KEY_BYTES:
            raise KeyringError(
                f"{where}: keys[{index}].key must decode to {KEY_BYTES} bytes, got {len(secret)}"
            )
        keys.append(WrappingKey(key_id, secret))
    if not keys:
        raise KeyringError(f"{where}: the keyring holds no key")
    try:
        return Keyring(keys)
    except KeyringError as exc:
        raise KeyringError(f"{where}: {exc}") from None


def load_keyring(source: str | Path) -> Keyring:
    """The keyring from a file's path, or (a value that starts with `{`) the JSON itself, as a
    Kubernetes Secret key puts it into the environment; every problem is one KeyringError that
    names the variable and never quotes a key."""
    inline = isinstance(source, str) and source.lstrip().startswith("{")
    where = "TEMPSTRONG_PERSONAL_DATA_KEYS" + ("" if inline else f": {source}")
    if inline:
        text = str(source)
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyringError(f"{where}: cannot be read: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise KeyringError(f"{where}: not JSON") from None
    return parse_keyring(document, where)


def new_keyring_document(key_id: str = "k1") -> dict[str, list[dict[str, str]]]:
    """A keyring with one new random key (for `tempstrong keys` and dev mode)."""
    secret = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
    return {"keys": [{"id": key_id, "key": secret}]}
