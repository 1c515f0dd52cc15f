"""The token signers' public keys: TEMPSTRONG_JWKS, a file or an https:// URL.

Only asymmetric keys (RS256, ES256, EdDSA) are kept; an unknown `kid` triggers at most one
refetch per 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt

from .access import Unauthorized

ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
REFETCH_INTERVAL_SECONDS = 60.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


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
