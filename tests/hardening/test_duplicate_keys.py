"""Issue 18, item 2: a JSON body with a duplicated key is 400, at any depth.

`{"version": 999, "version": 6}` was 200: the last one won. A proxy or WAF that keeps the first
one checked another request than the one the service carried out (a parser differential).
"""

from __future__ import annotations

import base64
import json

from tests.support.http import BASE, Caller, credential_path, new_user_id

JSON = {"Content-Type": "application/json"}
SECRET_VALUE = "never-echo-this-value"


def _refused_for_a_duplicate(response, body) -> str:  # type: ignore[no-untyped-def]
    assert response.status == 400, body
    [error] = body["errors"]
    assert error["code"] == "errors.validation"
    assert "duplicated key" in error["message"] and SECRET_VALUE not in error["message"]
    return str(error["message"])


async def test_a_patch_with_the_version_twice_is_refused_and_changes_nothing(api, tokens):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential("acme")
    path = credential_path("acme", user)
    raw = (
        f'{{"version": 999, "version": {created["version"]}, "modificationComment": "twice"}}'
    ).encode()
    response, body = await caller.request("PATCH", path, data=raw, headers=JSON)
    assert _refused_for_a_duplicate(response, body) == "The body has a duplicated key: version."
    _, stored = await caller.get("acme", user)
    assert stored["version"] == created["version"]
    assert stored.get("modificationComment") != "twice"


async def test_a_user_with_its_extid_twice_is_refused_and_not_created(api, tokens):
    caller = Caller(api, tokens.admin())
    first, second = new_user_id(), new_user_id()
    raw = f'{{"extId": "{first}", "extId": "{second}"}}'.encode()
    response, body = await caller.request("POST", f"{BASE}/acme/users", data=raw, headers=JSON)
    _refused_for_a_duplicate(response, body)
    for user in (first, second):  # neither exists: a credential for it is 404
        status, _ = await caller.create_credential("acme", user)
        assert status == 404


async def test_a_verification_with_the_password_twice_is_refused_and_not_counted(api, tokens):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential("acme", policyExtId="tsp-none")
    raw = json.dumps({"password": SECRET_VALUE}).replace("{", '{"password": "wrong", ', 1)
    response, body = await caller.request(
        "POST", credential_path("acme", user) + "/verify", data=raw.encode(), headers=JSON
    )
    _refused_for_a_duplicate(response, body)
    _, stored = await caller.get("acme", user)
    assert stored["failedLoginCount"] == 0 and stored["version"] == created["version"]


async def test_a_duplicated_key_deeper_down_is_refused_and_neither_named_nor_echoed(api, tokens):
    """Bodies are flat today; a nested duplicate is refused all the same, and a key that is not
    a declared field is not named (it is the caller's text, like a value)."""
    caller = Caller(api, tokens.admin())
    bodies = [
        f'{{"extId": "{new_user_id()}", "email": {{"k": "{SECRET_VALUE}", "k": 1}}}}',
        f'[{{"extId": "{new_user_id()}"}}, {{"k": 1, "k": "{SECRET_VALUE}"}}]',
        f'{{"extId": "{new_user_id()}", "x": [[{{"a": {{"{SECRET_VALUE}": 1, '
        f'"{SECRET_VALUE}": 2}}}}]]}}',
    ]
    for raw in bodies:
        response, body = await caller.request(
            "POST", f"{BASE}/acme/users", data=raw.encode(), headers=JSON
        )
        assert _refused_for_a_duplicate(response, body) == "The body has a duplicated key.", raw


async def test_a_continuation_token_with_a_duplicated_key_is_refused(api, tokens):
    """The token is the server's own JSON, but a caller can make one: the same strict reading."""
    caller = Caller(api, tokens.admin())
    raw = b'{"v": 1, "after": "..", "after": "user-a"}'
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response, body = await caller.request(
        "GET", f"{BASE}/acme/tempstrong-passwords?continuationToken={token}"
    )
    assert response.status == 400 and body["errors"][0]["code"] == "errors.validation", body
