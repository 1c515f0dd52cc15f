"""Development keys: a JWKS with its signing key, a delivery key pair, a hash key, a
personal-data keyring, and signed tokens."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.public import PrivateKey

from ..privacy.keyring import new_keyring_document
from .sealing import encode_key

DEV_ISSUER = "tempstrong-dev"
DEV_AUDIENCE = "tempstrong"
JWKS_FILE = "jwks.json"
SIGNING_KEY_FILE = "jwt-signing-key.pem"
DELIVERY_PUBLIC_FILE = "delivery-public.key"
DELIVERY_PRIVATE_FILE = "delivery-private.key"
HASH_KEY_FILE = "hash.key"
PERSONAL_DATA_KEYS_FILE = "personal-data-keys.json"


@dataclass(frozen=True)
class DevKeys:
    folder: Path

    @property
    def jwks_path(self) -> Path:
        return self.folder / JWKS_FILE

    def read(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8").strip()

    @property
    def delivery_public_key(self) -> str:
        return self.read(DELIVERY_PUBLIC_FILE)

    @property
    def delivery_private_key(self) -> str:
        return self.read(DELIVERY_PRIVATE_FILE)

    @property
    def hash_key(self) -> str:
        return self.read(HASH_KEY_FILE)

    @property
    def personal_data_keys_path(self) -> Path:
        return self.folder / PERSONAL_DATA_KEYS_FILE

    def sign(self, claims: dict[str, Any], lifetime_seconds: int = 3600) -> str:
        pem = (self.folder / SIGNING_KEY_FILE).read_bytes()
        jwks = json.loads(self.jwks_path.read_text(encoding="utf-8"))
        kid = jwks["keys"][0]["kid"]
        now = int(time.time())
        payload = {"iat": now, "exp": now + lifetime_seconds, **claims}
        return jwt.encode(payload, pem, algorithm="EdDSA", headers={"kid": kid})


def make_dev_keys(folder: Path) -> DevKeys:
    """Writes new keys into `folder` (mode 0700; private files 0600). Overwrites nothing."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (folder / PERSONAL_DATA_KEYS_FILE).exists():  # also in folders made before it existed
        keyring = json.dumps(new_keyring_document("dev-1"), indent=2)
        _write(folder / PERSONAL_DATA_KEYS_FILE, keyring, 0o600)
    existing = [n for n in (JWKS_FILE, SIGNING_KEY_FILE) if (folder / n).exists()]
    if existing:
        return DevKeys(folder)
    signing_key = Ed25519PrivateKey.generate()
    kid = f"dev-{secrets.token_hex(4)}"
    public_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(signing_key.public_key()))
    public_jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    delivery = PrivateKey.generate()
    _write(folder / JWKS_FILE, json.dumps({"keys": [public_jwk]}, indent=2), 0o644)
    pem = signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(folder / SIGNING_KEY_FILE, pem.decode(), 0o600)
    _write(folder / DELIVERY_PUBLIC_FILE, encode_key(delivery.public_key), 0o644)
    _write(folder / DELIVERY_PRIVATE_FILE, encode_key(delivery), 0o600)
    _write(folder / HASH_KEY_FILE, secrets.token_urlsafe(32), 0o600)
    return DevKeys(folder)


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
