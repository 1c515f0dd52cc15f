"""Issue 18, item 3: `.` and `..` are never identifiers.

A user, credential or login id `.` or `..` was stored. Clients that normalize paths (curl,
browsers, ingresses) turn `/users/..` into another path, so such a user could never be read or
deleted through them. Wherever an identifier of the `[A-Za-z0-9._@+-]{1,255}` grammar is taken
(path, body, continuation token) `.` and `..` are now 400 `errors.validation`.
"""

from __future__ import annotations

import asyncio
import base64
import json

from service.contracts.asyncapi import build_asyncapi
from service.contracts.cloudevents import SOURCE, USER_SOURCE
from service.domain.validation import EXT_ID
from service.http.openapi import build_openapi
from tests.support.ecma import ecma_test
from tests.support.http import BASE, Caller, credential_path, new_user_id

DOTS = (".", "..")


def _invalid(response, body, what: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status == 400, (what, response.status, body)
    assert body["errors"][0]["code"] == "errors.validation", (what, body)


async def test_a_user_or_login_id_of_dots_is_refused(api, tokens):
    caller = Caller(api, tokens.admin())
    for value in DOTS:
        for body in ({"extId": value}, {"extId": new_user_id(), "loginId": value}):
            response, answer = await caller.request("POST", f"{BASE}/acme/users", json=body)
            _invalid(response, answer, json.dumps(body))


async def test_a_credential_or_policy_id_of_dots_is_refused(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    for value in DOTS:
        for field in ("extId", "policyExtId"):
            response, answer = await caller.request(
                "POST", credential_path("acme", user), json={field: value}
            )
            _invalid(response, answer, f"create {field}={value}")
    other, created = await caller.user_with_credential("acme")
    for value in DOTS:
        response, answer = await caller.request(
            "PATCH",
            credential_path("acme", other),
            json={"version": created["version"], "policyExtId": value},
        )
        _invalid(response, answer, f"patch policyExtId={value}")


async def _raw(api, method: str, path: str, token: str) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    """One request as the bytes given: nothing on the client side normalizes the path."""
    host, port = api.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Token: {token}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), json.loads(body)


async def test_a_path_segment_of_dots_is_refused_as_a_user_id(api, tokens):
    """aiohttp routes `/users/../tempstrong-password` as it comes, percent-encoded or not."""
    caller = Caller(api, tokens.admin())
    for segment in (".", "..", "%2E", "%2e", "%2E%2E", ".%2E", "%2E."):
        for method, suffix in (
            ("GET", ""),
            ("DELETE", ""),
            ("GET", "/tempstrong-password"),
            ("POST", "/tempstrong-password"),
            ("POST", "/tempstrong-password/reset"),
        ):
            path = f"{BASE}/acme/users/{segment}{suffix}"
            status, body = await _raw(api, method, path, caller.token)
            assert status == "HTTP/1.1 400 Bad Request", (method, path, status, body)
            assert body["errors"][0]["code"] == "errors.validation", (method, path, body)


async def test_a_continuation_token_after_dots_is_refused(api, tokens):
    caller = Caller(api, tokens.admin())
    for value in DOTS:
        raw = json.dumps({"v": 1, "after": value}).encode()
        token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        response, body = await caller.request(
            "GET", f"{BASE}/acme/tempstrong-passwords?continuationToken={token}"
        )
        _invalid(response, body, f"token after {value}")


def test_the_grammar_refuses_only_the_two_dot_segments():
    for value in DOTS:
        assert not EXT_ID.fullmatch(value)
    for value in ("...", ".a", "a.", "a..b", "..a", ".@", "a", "c" * 255):
        assert EXT_ID.fullmatch(value), value


def _identifier_patterns(node: object, where: str = "") -> list[tuple[str, str]]:
    """(where, pattern) of every published pattern that holds the identifier grammar."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str) and "A-Za-z0-9._@+-" in value:
                found.append((where, value))
            else:
                found += _identifier_patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found += _identifier_patterns(value, f"{where}/{n}")
    return found


def test_every_published_identifier_pattern_decides_as_the_server():
    """The OpenAPI and AsyncAPI documents publish the grammar (alone, and inside the CloudEvent
    `source`); run as ECMA-262 each refuses `.` and `..` and accepts the rest, as EXT_ID does."""
    values = [".", "..", "...", ".a", "a.", "a..b", "user-1", "c" * 255, "c" * 256]
    patterns = [
        *(("openapi" + w, p) for w, p in _identifier_patterns(build_openapi())),
        *(("asyncapi" + w, p) for w, p in _identifier_patterns(build_asyncapi())),
    ]
    assert len(patterns) >= 7
    for where, pattern in patterns:
        # a CloudEvent `source`: the credential's resource, or the user's (user.erased)
        template = SOURCE if "tempstrong-password" in pattern else USER_SOURCE
        subjects = (
            [template.format(clientExtId="acme", userExtId=v) for v in values]
            if "/users/" in pattern
            else values
        )
        expected = [v not in DOTS and len(v) <= 255 for v in values]
        assert [EXT_ID.fullmatch(v) is not None for v in values] == expected
        assert ecma_test(pattern, subjects) == expected, where
