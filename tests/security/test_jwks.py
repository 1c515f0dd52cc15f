"""Signing-key rotation without restart, and the JWKS refetch budget (at most once per interval).

The JWKS is served over loopback HTTP by a small aiohttp app that counts its hits, so every
re-read of the key set is observable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.security.access import Unauthorized
from service.security.jwks import JwksKeys
from service.security.tokens import TokenVerifier
from tests.support.http import Caller, credential_path
from tests.support.keys import AUDIENCE, ISSUER, SigningKey, TokenFactory, new_key

BURST = 50


class JwksServer:
    """Serves a JWKS document that a test can change, and counts the fetches."""

    def __init__(self) -> None:
        self.hits = 0
        self.document: Any = {"keys": []}
        self.status = 200
        self.server: TestServer | None = None

    def publish(self, *keys: SigningKey) -> None:
        self.document = {"keys": [k.jwk for k in keys]}

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(
            text=json.dumps(self.document), status=self.status, content_type="application/json"
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/jwks.json", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/jwks.json"))


@pytest.fixture
async def jwks() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    await server.start()
    yield server
    assert server.server is not None
    await server.server.close()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "iat": now, "exp": now + 300, **extra}


def _verifier(jwks: JwksServer, interval: float) -> TokenVerifier:
    keys = JwksKeys(jwks.url, refetch_interval=interval)
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)


async def _refused(verifier: TokenVerifier, token: str) -> bool:
    try:
        await verifier.verify(token)
    except Unauthorized:
        return True
    return False


async def test_a_burst_of_unknown_kids_reads_the_jwks_at_most_once(jwks):
    known = new_key("known")
    jwks.publish(known)
    verifier = _verifier(jwks, interval=60)
    assert (await verifier.verify(known.sign(_claims()))).subject == "svc"
    assert jwks.hits == 1
    strangers = [new_key(f"stranger-{i}").sign(_claims()) for i in range(BURST)]
    refused = await asyncio.gather(*(_refused(verifier, t) for t in strangers))
    assert all(refused)
    assert jwks.hits == 1  # within the interval: no re-read at all

    cold = _verifier(jwks, interval=60)
    refused = await asyncio.gather(*(_refused(cold, t) for t in strangers))
    assert all(refused)
    assert jwks.hits == 2  # a cold cache: one read for the whole burst, not fifty


async def test_an_unknown_kid_is_refused_after_exactly_one_refetch_when_due(jwks):
    known = new_key("known")
    jwks.publish(known)
    verifier = _verifier(jwks, interval=0.3)
    await verifier.verify(known.sign(_claims()))
    assert jwks.hits == 1
    await asyncio.sleep(0.3)
    strangers = [new_key(f"stranger-{i}").sign(_claims()) for i in range(BURST)]
    assert all(await asyncio.gather(*(_refused(verifier, t) for t in strangers)))
    assert jwks.hits == 2
    # a known kid never causes a fetch
    for _ in range(10):
        await verifier.verify(known.sign(_claims()))
    assert jwks.hits == 2


async def test_rotation_takes_effect_at_the_next_due_refetch(jwks):
    old, new = new_key("old"), new_key("new")
    jwks.publish(old)
    verifier = _verifier(jwks, interval=0.3)
    await verifier.verify(old.sign(_claims()))
    jwks.publish(old, new)  # the IdP adds the next key
    # inside the interval the new kid is unknown and not refetched yet
    assert await _refused(verifier, new.sign(_claims()))
    assert jwks.hits == 1
    await asyncio.sleep(0.3)
    assert (await verifier.verify(new.sign(_claims()))).subject == "svc"
    assert jwks.hits == 2
    # the old key is retired; it stays trusted only until the next due refetch
    jwks.publish(new)
    await asyncio.sleep(0.3)
    await verifier.verify(new.sign(_claims()))  # known kid: no refetch, old still cached
    assert await _refused(verifier, new_key("third").sign(_claims()))  # due: refetch
    assert jwks.hits == 3
    assert await _refused(verifier, old.sign(_claims()))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_signed(key: SigningKey, header: dict[str, Any]) -> str:
    """A correctly signed token whose header PyJWT itself would refuse to produce."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    signature = jwt.get_algorithm_by_name(key.alg).sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{_b64(signature)}"


@pytest.mark.parametrize(
    ("status", "document"),
    [(500, {"keys": []}), (200, "not a jwks"), (200, {"keys": "nope"}), (404, {})],
)
async def test_a_broken_jwks_keeps_the_cached_keys(jwks, status, document):
    known = new_key("known")
    jwks.publish(known)
    verifier = _verifier(jwks, interval=0)
    await verifier.verify(known.sign(_claims()))
    jwks.status, jwks.document = status, document
    assert await _refused(verifier, new_key("unknown").sign(_claims()))
    assert (await verifier.verify(known.sign(_claims()))).subject == "svc"


async def test_keys_named_in_the_token_header_are_never_trusted(jwks):
    """`jwk`, `jku` and `x5u` headers name the attacker's key: the JWKS alone decides."""
    attacker = new_key("attacker")
    trusted = new_key("trusted")
    jwks.publish(trusted)
    verifier = _verifier(jwks, interval=60)
    await verifier.verify(trusted.sign(_claims()))
    evil_jwks = JwksServer()
    await evil_jwks.start()
    try:
        evil_jwks.publish(attacker)
        for headers in (
            {"jwk": attacker.jwk},
            {"jku": evil_jwks.url},
            {"x5u": evil_jwks.url},
            {"kid": "trusted", "jwk": attacker.jwk},
        ):
            assert await _refused(verifier, attacker.sign(_claims(), headers))
        assert evil_jwks.hits == 0
    finally:
        assert evil_jwks.server is not None
        await evil_jwks.server.close()


@pytest.mark.parametrize("kid", [1, ["trusted"], {"kid": "trusted"}, "", "x" * 10_000])
async def test_odd_kid_values_are_401(jwks, kid):
    trusted = new_key("trusted")
    jwks.publish(trusted)
    verifier = _verifier(jwks, interval=60)
    assert await _refused(verifier, _hand_signed(trusted, {"alg": "EdDSA", "kid": kid}))


async def test_rotation_without_restart_through_the_api(api, tokens: TokenFactory, jwks):
    """The running API: a new key becomes usable, a burst of unknown kids reads the JWKS once."""
    old, new = new_key("api-old"), new_key("api-new")
    jwks.publish(old)
    original = api.context.verifier
    api.context.verifier = _verifier(jwks, interval=0.3)
    path = credential_path("acme", "nobody-here")

    async def status(key: SigningKey) -> int:
        token = key.sign(tokens.claims(permissions=["AccessControl.CredentialView"], clients=["*"]))
        response, _ = await Caller(api, token).request("GET", path)
        return response.status

    try:
        assert await status(old) == 404  # authenticated, the user does not exist
        jwks.publish(old, new)
        await asyncio.sleep(0.3)
        assert await status(new) == 404
        assert jwks.hits == 2
        statuses = await asyncio.gather(*(status(new_key(f"x-{i}")) for i in range(BURST)))
        assert statuses == [401] * BURST
        assert jwks.hits == 2  # the refetch just happened: the burst costs no JWKS read
        await asyncio.sleep(0.3)
        statuses = await asyncio.gather(*(status(new_key(f"y-{i}")) for i in range(BURST)))
        assert statuses == [401] * BURST
        assert jwks.hits == 3  # due again: exactly one re-read for fifty unknown kids
    finally:
        api.context.verifier = original


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_cached_verification_ends_with_the_tokens_expiry(jwks):
    key = new_key("cache")
    jwks.publish(key)
    clock = FakeClock()
    verifier = TokenVerifier(
        JwksKeys(jwks.url, refetch_interval=60), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )
    token = key.sign(_claims())  # exp = now + 300
    assert (await verifier.verify(token)).subject == "svc"
    clock.now += 300 + 29  # inside the leeway: still the cached principal
    assert (await verifier.verify(token)).subject == "svc"
    clock.now += 2
    assert await _refused(verifier, token)


async def test_a_cached_verification_ends_when_its_key_leaves_the_jwks(jwks):
    old, new = new_key("leaving"), new_key("staying")
    jwks.publish(old, new)
    verifier = _verifier(jwks, interval=0)
    token = old.sign(_claims())
    assert (await verifier.verify(token)).subject == "svc"
    jwks.publish(new)
    assert await _refused(verifier, new_key("unknown").sign(_claims()))  # triggers the refetch
    assert await _refused(verifier, token)  # the very same token string, no longer trusted


async def test_a_tampered_copy_of_a_cached_token_is_verified_on_its_own(jwks):
    key = new_key("tamper")
    jwks.publish(key)
    verifier = _verifier(jwks, interval=60)
    token = key.sign(_claims())
    await verifier.verify(token)
    header, _, signature = token.split(".")
    forged_claims = _b64(json.dumps(_claims(sub="root")).encode())
    assert await _refused(verifier, f"{header}.{forged_claims}.{signature}")
