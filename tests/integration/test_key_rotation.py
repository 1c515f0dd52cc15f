"""JWKS rotation: a new key is fetched on an unknown kid, at most once per interval."""

from __future__ import annotations

import json

from service.security.access import Unauthorized
from service.security.jwks import JwksKeys
from tests.support.keys import new_key


async def test_unknown_kid_refetches_at_most_once_per_interval(tmp_path):
    first, second, third = new_key("k1"), new_key("k2"), new_key("k3")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [first.jwk]}))
    keys = JwksKeys(str(path), refetch_interval=3600)
    assert (await keys.key_for("k1")).key_id == "k1"
    path.write_text(json.dumps({"keys": [first.jwk, second.jwk]}))
    # the first fetch happened at start: within the interval an unknown kid is refused
    try:
        await keys.key_for("k2")
        raise AssertionError("expected Unauthorized")
    except Unauthorized:
        pass
    rotating = JwksKeys(str(path), refetch_interval=0)
    assert (await rotating.key_for("k1")).key_id == "k1"
    path.write_text(json.dumps({"keys": [second.jwk, third.jwk]}))
    assert (await rotating.key_for("k3")).key_id == "k3"


async def test_symmetric_keys_in_the_jwks_are_ignored(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}]}))
    keys = JwksKeys(str(path))
    try:
        await keys.key_for("sym")
        raise AssertionError("expected Unauthorized")
    except Unauthorized:
        pass


async def test_rotation_through_the_api(api, tokens):
    from tests.support.http import Caller, credential_path

    verifier_keys = api.context.verifier._keys
    verifier_keys._refetch_interval = 0
    try:
        new = new_key("ed-rotated")
        tokens.publish(*tokens.keys, new)
        token = tokens.token(new, permissions=["AccessControl.CredentialView"], clients=["*"])
        response, _ = await Caller(api, token).request("GET", credential_path("acme", "nobody"))
        assert response.status == 404
    finally:
        verifier_keys._refetch_interval = 60
        tokens.publish(*[k for k in tokens.keys if k.kid != "ed-rotated"])
