"""JWT verification against a JWKS (file or URL), and who may act on which client and user."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt

from .permissions import ALL_CLIENTS, SELF_ADMIN_ROLE, Permission

ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
REFETCH_INTERVAL_SECONDS = 60.0
CLOCK_LEEWAY_SECONDS = 30
VERIFIED_CACHE_SECONDS = 60.0
VERIFIED_CACHE_SIZE = 10_000
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Unauthorized(Exception):
    """401: the token is missing or not acceptable. The message is safe to show."""


class Forbidden(Exception):
    """403: a valid token that may not do this."""


@dataclass(frozen=True)
class Principal:
    subject: str
    permissions: frozenset[str]
    clients: frozenset[str]
    roles: frozenset[str]
    self_client: str | None

    @property
    def is_self_admin(self) -> bool:
        return SELF_ADMIN_ROLE in self.roles

    def may_act_on_client(self, client: str) -> bool:
        return ALL_CLIENTS in self.clients or client in self.clients

    def has_permissions(self, required: Iterable[Permission]) -> bool:
        return all(p.value in self.permissions for p in required)

    def is_user_themself(self, client: str, user_ext_id: str | None) -> bool:
        return (
            self.is_self_admin
            and user_ext_id is not None
            and self.self_client == client
            and self.subject == user_ext_id
        )


def authorize(
    principal: Principal,
    client: str,
    user_ext_id: str | None,
    required: Collection[Permission],
    *,
    self_admin: bool,
) -> bool:
    """Returns True when the caller acts as SelfAdmin; raises Forbidden before any lookup."""
    if principal.may_act_on_client(client) and principal.has_permissions(required):
        return False
    if self_admin and principal.is_user_themself(client, user_ext_id):
        return True
    raise Forbidden("The token does not permit this operation on this resource.")


class JwksKeys:
    """Keys of TEMPSTRONG_JWKS; an unknown kid triggers at most one refetch per 60 s."""

    def __init__(self, source: str, *, refetch_interval: float = REFETCH_INTERVAL_SECONDS) -> None:
        parts = urlsplit(source)
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError("TEMPSTRONG_JWKS: a URL must be https:// (http only on loopback)")
        self._source = source
        self._is_url = parts.scheme in ("http", "https")
        self._refetch_interval = refetch_interval
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        key = self._lookup(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._lookup(kid)
            now = time.monotonic()
            due = self._fetched_at is None or now - self._fetched_at >= self._refetch_interval
            if key is None and due:
                self._fetched_at = now
                # On a failed fetch keep the keys we had; the caller sees an unknown key.
                with contextlib.suppress(OSError, ValueError, aiohttp.ClientError, jwt.PyJWKError):
                    self._keys = _parse_jwks(await self._fetch())
                key = self._lookup(kid)
        if key is None:
            raise Unauthorized("The token's signing key is unknown.")
        return key

    def load_file_now(self) -> int:
        """For a JWKS file: reads it at start, so a missing or useless file stops start-up
        (ValueError naming the problem) instead of answering every request 401 later.
        Returns the number of usable keys. A URL is fetched on first use (the identity
        provider may be away while the API starts)."""
        if self._is_url:
            return 0
        try:
            text = Path(self._source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"TEMPSTRONG_JWKS: {self._source}: {exc.strerror}") from None
        try:
            keys = _parse_jwks(json.loads(text))
        except ValueError as exc:
            raise ValueError(f"TEMPSTRONG_JWKS: {self._source}: not a JWKS ({exc})") from None
        if not keys:
            raise ValueError(
                f"TEMPSTRONG_JWKS: {self._source}: no usable public key "
                f"(RS256, ES256 or EdDSA) in it"
            )
        self._keys = keys
        self._fetched_at = time.monotonic()
        return len(keys)

    def current(self, kid: str | None) -> jwt.PyJWK | None:
        """The key now held for `kid`, without fetching (None if it is gone)."""
        return self._lookup(kid)

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _fetch(self) -> Any:
        if not self._is_url:
            text = await asyncio.to_thread(Path(self._source).read_text, encoding="utf-8")
            return json.loads(text)
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(self._source) as response,
        ):
            response.raise_for_status()
            return await response.json(content_type=None)


def _parse_jwks(document: Any) -> dict[str | None, jwt.PyJWK]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("JWKS must be an object with a 'keys' list")
    keys: dict[str | None, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") == "oct":
            continue  # symmetric keys are never accepted
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWKError:
            continue
        if key.algorithm_name in ALLOWED_ALGORITHMS:
            keys[key.key_id] = key
    return keys


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
