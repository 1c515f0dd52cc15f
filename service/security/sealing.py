"""Sealed boxes (libsodium, X25519) for the out-of-band fragment: only the worker can open them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox


class SealingError(ValueError):
    """A key or an envelope that cannot be used; never carries plaintext."""


def key_id(public_key: PublicKey) -> str:
    """The first 8 bytes of the raw public key's SHA-256, hex: names the key an envelope needs."""
    return hashlib.sha256(bytes(public_key)).digest()[:8].hex()


def _decode_key(encoded: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SealingError(f"{what}: not standard base64") from None
    if len(raw) != 32:
        raise SealingError(f"{what}: must decode to 32 bytes, got {len(raw)}")
    return raw


def encode_key(key: PublicKey | PrivateKey) -> str:
    return base64.b64encode(bytes(key)).decode("ascii")


class Sealer:
    """Seals to TEMPSTRONG_DELIVERY_PUBLIC_KEY; holds no secret."""

    def __init__(self, public_key_b64: str) -> None:
        self._public_key = PublicKey(_decode_key(public_key_b64, "TEMPSTRONG_DELIVERY_PUBLIC_KEY"))
        self._box = SealedBox(self._public_key)
        self.key_id = key_id(self._public_key)

    def seal(self, payload: dict[str, Any]) -> dict[str, str]:
        plaintext = json.dumps(payload, separators=(",", ":")).encode()
        ciphertext = self._box.encrypt(plaintext)
        return {"keyId": self.key_id, "sealed": base64.b64encode(ciphertext).decode("ascii")}


class Opener:
    """Opens envelopes with any of the configured private keys (comma-separated, for rotation)."""

    def __init__(self, private_keys_b64: str) -> None:
        self._boxes: dict[str, SealedBox[PrivateKey]] = {}
        for index, encoded in enumerate(k for k in private_keys_b64.split(",") if k.strip()):
            private_key = PrivateKey(
                _decode_key(encoded, f"TEMPSTRONG_DELIVERY_PRIVATE_KEY[{index}]")
            )
            self._boxes[key_id(private_key.public_key)] = SealedBox(private_key)
        if not self._boxes:
            raise SealingError("TEMPSTRONG_DELIVERY_PRIVATE_KEY: no key given")

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._boxes)

    def open(self, envelope: dict[str, str]) -> dict[str, Any]:
        box = self._boxes.get(envelope.get("keyId", ""))
        if box is None:
            raise SealingError(f"no private key for keyId {envelope.get('keyId')!r}")
        try:
            plaintext = box.decrypt(base64.b64decode(envelope["sealed"], validate=True))
        except (CryptoError, KeyError, binascii.Error, ValueError):
            raise SealingError("envelope cannot be opened") from None
        payload: dict[str, Any] = json.loads(plaintext)
        return payload
