"""JWT verification: signature, algorithm, issuer, audience, expiry; claims to a Principal."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from .access import Principal, Unauthorized
from .jwks import ALLOWED_ALGORITHMS, JwksKeys

CLOCK_LEEWAY_SECONDS = 30
VERIFIED_CACHE_SECONDS = 60.0
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    kid: str | None
    key: jwt.PyJWK
    expires_at: float
    verified_at: float


class TokenVerifier:
    """Verifies tokens; a token verified once is not verified again for up to 60 s.

    A client sends the same token with many requests, and the signature check is the largest
    single CPU cost of a request. A cached verification is used only while the token has not
    expired, its key is still the one the JWKS holds for its kid (a refetch that drops or
    replaces the key invalidates it), and for at most VERIFIED_CACHE_SECONDS.
    """

    def __init__(
        self,
        keys: JwksKeys,
        *,
        issuer: str,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            now = self._clock()
            if now >= cached.expires_at + CLOCK_LEEWAY_SECONDS:
                del self._verified[token]
                raise Unauthorized("The token has expired.")
            fresh = now - cached.verified_at < VERIFIED_CACHE_SECONDS
            if fresh and self._keys.current(cached.kid) is cached.key:
                return cached.principal
            del self._verified[token]
        principal, kid, key, expires_at = await self._verify_signed(token)
        self._verified[token] = _Verified(principal, kid, key, expires_at, self._clock())
        while len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify_signed(self, token: str) -> tuple[Principal, str | None, jwt.PyJWK, float]:
        if not token.isascii():  # a JWT is base64url; other bytes arrive as lone surrogates
            raise Unauthorized("The token is malformed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The token is malformed.") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthorized("The token's algorithm is not accepted.")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("The token is malformed.")
        key = await self._keys.key_for(kid)
        if key.algorithm_name != algorithm:
            raise Unauthorized("The token's algorithm does not match its key.")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.PyJWTError:
            raise Unauthorized("The token is not valid.") from None
        _require_numeric_dates(claims)
        return _principal(claims), kid, key, float(claims["exp"])


def _require_numeric_dates(claims: dict[str, Any]) -> None:
    """RFC 7519 NumericDate: a JSON number. PyJWT also takes "1700000000" (a string)."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise Unauthorized(f"The token's {name} claim must be a number.")


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    client = claims.get("client")
    if not isinstance(subject, str) or (client is not None and not isinstance(client, str)):
        raise Unauthorized("The token's claims are malformed.")
    return Principal(
        subject=subject,
        permissions=_string_set(claims, "permissions"),
        clients=_string_set(claims, "clients"),
        roles=_string_set(claims, "roles"),
        self_client=client,
    )


def _string_set(claims: dict[str, Any], name: str) -> frozenset[str]:
    value = claims.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unauthorized(f"The token's {name} claim must be a list of strings.")
    return frozenset(value)
