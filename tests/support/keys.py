"""Test-time key material: generated per run, never committed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISSUER = "https://idp.test/tempstrong"
AUDIENCE = "tempstrong-api"


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    if alg == "RS256":
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    elif alg == "ES256":
        data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    else:
        data = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public_key))
    data.update(kid=kid, alg=alg, use="sig")
    return data


@dataclass
class SigningKey:
    kid: str
    alg: str
    private_key: Any

    @property
    def jwk(self) -> dict[str, Any]:
        return _jwk(self.private_key.public_key(), self.kid, self.alg)

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            claims,
            self.private_key,
            algorithm=self.alg,
            headers={"kid": self.kid, **(headers or {})},
        )


def new_key(kid: str, alg: str = "EdDSA") -> SigningKey:
    if alg == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(kid, alg, private)


@dataclass
class TokenFactory:
    jwks_path: Path
    keys: list[SigningKey] = field(default_factory=list)

    def publish(self, *keys: SigningKey) -> None:
        """Writes the JWKS file with these keys (rotation: call again with the new set)."""
        self.keys = list(keys)
        self.jwks_path.write_text(json.dumps({"keys": [k.jwk for k in keys]}))

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "helpdesk-1",
            "iat": now,
            "exp": now + 600,
            "permissions": [],
            "clients": [],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key: SigningKey | None = None, **overrides: Any) -> str:
        return (key or self.keys[0]).sign(self.claims(**overrides))

    def admin(self, clients: list[str] | None = None, **overrides: Any) -> str:
        from service.security.permissions import Permission

        return self.token(
            permissions=[p.value for p in Permission], clients=clients or ["*"], **overrides
        )

    def with_permissions(self, *permissions: str, clients: list[str] | None = None) -> str:
        return self.token(permissions=list(permissions), clients=clients or ["*"])

    def self_admin(self, client: str, user: str) -> str:
        return self.token(
            sub=user, roles=["SelfAdmin"], client=client, permissions=None, clients=None
        )
