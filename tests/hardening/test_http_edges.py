"""Issue 11, finding 8: the HTTP server's own errors, token dates, replays after a delete.

- aiohttp's own 400s were text/plain and echoed ~100 bytes of the offending header (the start
  of a token, say): every error is now the JSON shape, and nothing of the request comes back;
- `exp` given as a numeric string was accepted (RFC 7519 wants a number);
- a replay after the credential was deleted still answered the old credential (it must be 404).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.http import Caller, credential_path

SECRET_LOOKING = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXRva2VuLXBhcnQ"


async def _raw(api, request: bytes) -> tuple[int, dict[str, str], bytes]:  # type: ignore[no-untyped-def]
    host, port = api.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        # a control character in a header value, right after a token-looking text
        f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Token: {SECRET_LOOKING}".encode() + b"\x01\r\n\r\n",
        # a header without a colon
        f"GET /healthz HTTP/1.1\r\nHost: x\r\n{SECRET_LOOKING}\r\n\r\n".encode(),
        # a request line that is not HTTP
        f"GET /{SECRET_LOOKING} HTCPCP/1.0\r\n\r\n".encode(),
        # a header far over the limit
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Token: "
        + SECRET_LOOKING.encode() * 400
        + b"\r\n\r\n",
        # a request line far over the limit
        b"GET /" + SECRET_LOOKING.encode() * 400 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["control-char", "no-colon", "bad-version", "long-header", "long-line"],
)
async def test_errors_of_the_http_server_are_json_and_echo_nothing(api, request_bytes):
    status, headers, body = await _raw(api, request_bytes)
    assert 400 <= status < 500, (status, body)
    assert headers["content-type"].startswith("application/json"), headers
    document = json.loads(body)
    assert document["errors"][0]["code"] == "errors.validation"
    assert SECRET_LOOKING.encode() not in body and b"c2VjcmV0" not in body


async def test_a_numeric_string_exp_is_refused(api, tokens):
    caller = Caller(api, tokens.admin(exp="9999999999"))
    response, body = await caller.request("GET", credential_path("acme", "nobody"))
    assert response.status == 401 and body["errors"][0]["code"] == "errors.unauthorized"
    for claim in ("nbf", "iat"):
        caller = Caller(api, tokens.admin(**{claim: "1700000000"}))
        response, _ = await caller.request("GET", credential_path("acme", "nobody"))
        assert response.status == 401


@pytest.mark.parametrize("deleted", ["credential", "user"])
async def test_a_replay_after_the_delete_is_404(api, tokens, deleted):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential("acme")
    key = {"Idempotency-Key": f"replay-after-{deleted}"}
    first, _ = await caller.reset("acme", user, headers=key)
    assert first.status == 200
    replay, _ = await caller.reset("acme", user, headers=key)
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"
    path = (
        credential_path("acme", user)
        if deleted == "credential"
        else f"/nevisidm/api/core/v1/acme/users/{user}"
    )
    response, _ = await caller.request("DELETE", path)
    assert response.status == 204
    replay, body = await caller.reset("acme", user, headers=key)
    assert replay.status == 404 and body["errors"][0]["code"] == "errors.noRecord"
