"""A person's data key: seals and opens their personal values.

XChaCha20-Poly1305 (libsodium, through PyNaCl) with a random 24-byte nonce per value and, as
authenticated data, the aggregate and the field the value belongs to: a value copied onto another
aggregate, another field or another person (another key) does not open.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from nacl import bindings
from nacl.exceptions import CryptoError

from ..domain.personal import Encrypted
from .keyring import KEY_BYTES, NONCE_BYTES

_CONTEXT = b"tempstrong personal v1 "


class CannotOpen(Exception):
    """A value that its key does not open (tampered, or moved to another aggregate or field)."""


@dataclass(frozen=True)
class DataKey:
    key_id: UUID
    secret: bytes = field(repr=False)

    @classmethod
    def new(cls) -> DataKey:
        return cls(uuid4(), secrets.token_bytes(KEY_BYTES))

    def seal(self, value: str, aggregate_id: UUID, name: str) -> Encrypted:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            value.encode("utf-8"), _bound_to(aggregate_id, name), nonce, self.secret
        )
        return Encrypted(self.key_id, nonce + sealed)

    def open(self, value: Encrypted, aggregate_id: UUID, name: str) -> str:
        if value.key_id != self.key_id:
            raise CannotOpen("the value was sealed to another key")
        nonce, sealed = value.sealed[:NONCE_BYTES], value.sealed[NONCE_BYTES:]
        try:
            plain = bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                sealed, _bound_to(aggregate_id, name), nonce, self.secret
            )
        except CryptoError:
            raise CannotOpen("the value does not open for this aggregate and field") from None
        return bytes(plain).decode("utf-8")


def _bound_to(aggregate_id: UUID, name: str) -> bytes:
    return _CONTEXT + aggregate_id.bytes + name.encode("ascii")
