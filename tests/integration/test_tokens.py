"""Token refusals: every bad token is a 401 in the error shape with WWW-Authenticate."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from tests.support.http import Caller, credential_path
from tests.support.keys import new_key

PATH = credential_path("acme", "someone")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _status(api, token: str, path: str = PATH) -> tuple[int, dict]:
    response, body = await Caller(api, token).request("GET", path)
    if response.status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert body["errors"][0]["code"] == "errors.unauthorized"
    return response.status, body


@pytest.mark.parametrize("kid", ["ed-1", "rsa-1", "ec-1"])
async def test_each_asymmetric_algorithm_is_accepted(api, tokens, kid):
    key = next(k for k in tokens.keys if k.kid == kid)
    token = tokens.token(key, permissions=["AccessControl.CredentialView"], clients=["acme"])
    status, _ = await _status(api, token)
    assert status == 404  # authenticated; the user does not exist


async def test_missing_token(api):
    async with api.session.get(api.url(PATH)) as response:
        assert response.status == 401
        assert "WWW-Authenticate" in response.headers


async def test_bearer_header_is_accepted(api, tokens):
    token = tokens.admin()
    async with api.session.get(api.url(PATH), headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 404


async def test_expired_token(api, tokens):
    past = int(time.time()) - 3600
    assert (await _status(api, tokens.admin(exp=past, iat=past - 60)))[0] == 401


async def test_token_without_exp(api, tokens):
    assert (await _status(api, tokens.admin(exp=None)))[0] == 401


async def test_future_nbf(api, tokens):
    assert (await _status(api, tokens.admin(nbf=int(time.time()) + 3600)))[0] == 401


async def test_wrong_issuer_and_audience(api, tokens):
    assert (await _status(api, tokens.admin(iss="https://evil.test")))[0] == 401
    assert (await _status(api, tokens.admin(aud="someone-else")))[0] == 401


async def test_alg_none(api, tokens):
    claims = tokens.claims(permissions=["AccessControl.CredentialView"], clients=["*"])
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "ed-1"}).encode())
    token = f"{header}.{_b64(json.dumps(claims).encode())}."
    assert (await _status(api, token))[0] == 401


async def test_hs256_signed_with_the_public_key(api, tokens):
    rsa_key = next(k for k in tokens.keys if k.kid == "rsa-1")
    from cryptography.hazmat.primitives import serialization

    public_pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = tokens.claims(permissions=["AccessControl.CredentialView"], clients=["*"])
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = _b64(json.dumps(claims).encode())
    import hashlib
    import hmac

    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64(signature)}"
    assert (await _status(api, token))[0] == 401


async def test_algorithm_that_does_not_match_the_key(api, tokens):
    # an RS256 token that claims the kid of the Ed25519 key
    rsa_key = next(k for k in tokens.keys if k.kid == "rsa-1")
    token = jwt.encode(
        tokens.claims(), rsa_key.private_key, algorithm="RS256", headers={"kid": "ed-1"}
    )
    assert (await _status(api, token))[0] == 401


async def test_unknown_key(api, tokens):
    stranger = new_key("ed-1")  # same kid, different key: the signature fails
    assert (await _status(api, stranger.sign(tokens.claims())))[0] == 401
    unknown = new_key("never-published")
    assert (await _status(api, unknown.sign(tokens.claims())))[0] == 401


async def test_tampered_payload(api, tokens):
    token = tokens.token(permissions=["AccessControl.CredentialView"], clients=["other"])
    header, _, signature = token.split(".")
    claims = tokens.claims(permissions=["AccessControl.CredentialView"], clients=["*"])
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert (await _status(api, forged))[0] == 401


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "....", "ü.ö.ä", "eyJhbGciOiJFZERTQSJ9.e30."])
async def test_garbage_tokens(api, garbage):
    assert (await _status(api, garbage))[0] == 401


async def test_malformed_claims(api, tokens):
    assert (await _status(api, tokens.token(permissions="AccessControl.CredentialView")))[0] == 401
    assert (await _status(api, tokens.token(sub=None)))[0] == 401


async def test_client_scoping_is_403_before_lookup(api, tokens):
    token = tokens.with_permissions("AccessControl.CredentialView", clients=["other"])
    status, body = await _status(api, token)
    assert status == 403 and body["errors"][0]["code"] == "errors.forbidden"
    # the same for a client that does not exist: nothing leaks
    status, _ = await _status(api, token, credential_path("no-such-client", "someone"))
    assert status == 403


async def test_permission_based_call_needs_clients_claim(api, tokens):
    token = tokens.token(permissions=["AccessControl.CredentialView"], clients=None)
    assert (await _status(api, token))[0] == 403
