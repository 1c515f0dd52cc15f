"""Bad input is a 4xx in the error shape: never a 500, never a traceback, never a hang."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http import BASE, Caller, credential_path


def _assert_error_shape(body, status):
    assert isinstance(body, dict) and isinstance(body["errors"], list), body
    error = body["errors"][0]
    assert set(error) == {"code", "message"} and error["code"].startswith("errors.")
    assert "Traceback" not in error["message"]


async def _send(api, tokens, method, path, **kwargs):
    caller = Caller(api, tokens.admin())
    response, body = await caller.request(method, path, **kwargs)
    return response, body


@pytest.mark.parametrize(
    "data",
    [b"{", b"[]", b"null", b'"text"', b"\xff\xfe", b'{"extId": ', b"1e999999"],
)
async def test_malformed_json_is_400(api, tokens, data):
    response, body = await _send(
        api,
        tokens,
        "POST",
        f"{BASE}/acme/users",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    _assert_error_shape(body, 400)


@pytest.mark.parametrize(
    "payload",
    [
        {"extId": 5},
        {"extId": None},
        {"extId": "a b"},
        {"extId": "x" * 256},
        {"extId": "ok", "email": "not-an-email"},
        {"extId": "ok", "mobile": []},
        {"extId": "ok", "unknownField": 1},
        {"extId": "ok", "language": "english please"},
    ],
)
async def test_wrong_types_and_unknown_fields_are_400(api, tokens, payload):
    response, body = await _send(api, tokens, "POST", f"{BASE}/acme/users", json=payload)
    assert response.status == 400
    _assert_error_shape(body, 400)


async def test_non_json_body_is_415(api, tokens):
    response, body = await _send(
        api,
        tokens,
        "POST",
        f"{BASE}/acme/users",
        data=b"extId=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 415 and body["errors"][0]["code"] == "errors.unsupportedMediaType"


async def test_body_less_post_needs_no_content_type(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    async with api.session.post(
        api.url(credential_path("acme", user)), headers={"X-Token": tokens.admin()}
    ) as response:
        assert response.status == 201


async def test_oversized_body_is_413(api, tokens):
    payload = b'{"extId": "' + b"a" * (70 * 1024) + b'"}'
    response, body = await _send(
        api,
        tokens,
        "POST",
        f"{BASE}/acme/users",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413
    _assert_error_shape(body, 413)


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/bad client/users/u1/tempstrong-password",
        f"{BASE}/{'c' * 65}/users/u1/tempstrong-password",
        f"{BASE}/acme/users/{'u' * 256}/tempstrong-password",
        f"{BASE}/acme/users/u%00x/tempstrong-password",
        f"{BASE}/acme/users/u%2Fx/tempstrong-password",
        f"{BASE}/acme/users/%C3%A9/tempstrong-password",
    ],
)
async def test_odd_path_parameters_are_4xx(api, tokens, path):
    response, body = await _send(api, tokens, "GET", path)
    assert response.status in (400, 404)
    _assert_error_shape(body, response.status)


async def test_unknown_route_and_method(api, tokens):
    response, body = await _send(api, tokens, "GET", f"{BASE}/acme/nothing-here")
    assert response.status == 404
    _assert_error_shape(body, 404)
    response, body = await _send(api, tokens, "PUT", credential_path("acme", "u1"))
    assert response.status == 405
    _assert_error_shape(body, 405)


async def test_unknown_client_is_404(api, tokens):
    response, body = await _send(api, tokens, "GET", credential_path("nowhere", "u1"))
    assert response.status == 404 and body["errors"][0]["code"] == "errors.noRecord"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=10,
    )
)
async def test_any_json_to_patch_is_never_5xx(api, tokens, payload):
    response, body = await _send(
        api, tokens, "PATCH", credential_path("acme", "fuzz-user"), json=payload
    )
    assert response.status < 500, body
    _assert_error_shape(body, response.status)
