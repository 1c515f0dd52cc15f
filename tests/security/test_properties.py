"""Property tests of the HTTP layer where input is open-ended: never a 5xx, always the shape.

Deterministic (derandomize) and bounded: a few hundred requests in all.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.security.routes import ROUTE_IDS, ROUTES, assert_error_shape
from tests.support.http import BASE, Caller

SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WRITE_ROUTES = tuple(r for r in ROUTES if r.method in ("POST", "PATCH"))

# every code point, lone surrogates included (JSON can carry "\ud800"; UTF-8 cannot)
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = sorted(
    {"extId", "loginId", "email", "mobile", "language", "policyExtId", "stateName", "version"}
    | {"modificationComment", "password"}
)


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """Anything JSON, and (more often) objects with the real field names and odd values."""
    if draw(st.booleans()):
        return draw(JSON_VALUES)
    names = draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=4, unique=True))
    return {name: draw(JSON_VALUES) for name in names}


@st.composite
def segments(draw: st.DrawFn) -> str:
    text = draw(ANY_TEXT)
    safe = draw(st.sampled_from(["", "%", "@+.-_~:!$&'()*,;=", "%@+.-_~"]))
    raw = text.encode("utf-8", "surrogatepass")
    return quote(raw, safe=safe)


@pytest.fixture(scope="module")
async def existing(api, tokens) -> str:
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    return user


async def _send(api, token: str, method: str, url: URL, data: bytes | None, content_type: str):
    headers = {"X-Token": token}
    if data is not None:
        headers["Content-Type"] = content_type
    async with api.session.request(method, url, data=data, headers=headers) as response:
        payload = await response.read()
        return response.status, response.content_type, payload


def _check(status: int, content_type: str, payload: bytes, context: Any) -> None:
    assert status < 500, (status, payload[:300], context)
    if 400 <= status < 500:
        assert content_type == "application/json", (status, payload[:300], context)
        assert_error_shape(json.loads(payload), status)


@SETTINGS
@given(
    route=st.sampled_from(ROUTES),
    client=segments(),
    user=segments(),
    good_client=st.booleans(),
)
@example(route=ROUTES[0], client="acme%00", user="x", good_client=False)
@example(route=ROUTES[5], client="acme", user="%ED%A0%80", good_client=True)
@example(route=ROUTES[5], client="acme", user="..%2F..%2Fadmin", good_client=True)
@example(route=ROUTES[5], client="acme", user="%zz%", good_client=True)
async def test_arbitrary_path_segments_are_never_5xx(api, tokens, route, client, user, good_client):
    path = BASE + route.template.format(c="acme" if good_client else client, u=user)
    url = URL(api.base + path, encoded=True)
    body = route.request_body("fuzz-path-user")
    data = None if body is None else json.dumps(body).encode()
    status, content_type, payload = await _send(
        api, tokens.admin(), route.method, url, data, "application/json"
    )
    _check(status, content_type, payload, (route.name, path))


@SETTINGS
@given(route=st.sampled_from(WRITE_ROUTES), body=bodies())
@example(route=WRITE_ROUTES[-1], body={"password": "\ud800"})
@example(route=WRITE_ROUTES[0], body={"extId": "ok", "email": "\udfff@example.com"})
@example(route=WRITE_ROUTES[4], body={"version": 1, "modificationComment": "\ud83d"})
@example(route=WRITE_ROUTES[4], body={"version": 2**31})
@example(route=WRITE_ROUTES[4], body={"version": 1.0})
@example(route=WRITE_ROUTES[4], body={"version": True})
async def test_arbitrary_json_bodies_to_every_post_and_patch_are_never_5xx(
    api, tokens, existing, route, body
):
    url = URL(api.url(route.path("acme", existing)))
    data = json.dumps(body).encode()  # ensure_ascii: lone surrogates travel as \\ud800 escapes
    status, content_type, payload = await _send(
        api, tokens.admin(), route.method, url, data, "application/json"
    )
    _check(status, content_type, payload, (route.name, body))


@SETTINGS
@given(
    route=st.sampled_from(WRITE_ROUTES),
    data=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "a/b+json"]
    )
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)
@example(route=WRITE_ROUTES[0], data=b"\xef\xbb\xbf{}", content_type="application/json")
@example(route=WRITE_ROUTES[0], data=b'{"extId": "a", "extId": 1}', content_type="application/json")
@example(route=WRITE_ROUTES[0], data=b"[" * 5000 + b"]" * 5000, content_type="application/json")
async def test_arbitrary_bytes_and_content_types_are_never_5xx(
    api, tokens, existing, route, data, content_type
):
    url = URL(api.url(route.path("acme", existing)))
    status, response_type, payload = await _send(
        api, tokens.admin(), route.method, url, data, content_type
    )
    _check(status, response_type, payload, (route.name, data[:50], content_type))


@SETTINGS
@given(
    query=st.dictionaries(
        st.sampled_from(["stateName", "limit", "continuationToken", "other"]),
        ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
        max_size=3,
    )
)
@example(query={"continuationToken": "eyJ2IjoxLCJhZnRlciI6WzFdfQ"})  # {"v":1,"after":[1]}
@example(query={"continuationToken": "WzFd"})  # [1]
@example(query={"continuationToken": base64.urlsafe_b64encode(b"[" * 5000).decode()})
@example(query={"limit": "\u0661\u0660"})  # Arabic-Indic 10: str.isdigit() says yes
@example(query={"limit": "²"})
@example(query={"limit": "9" * 5000})  # int() refuses more than 4300 digits
async def test_arbitrary_list_queries_are_never_5xx(api, tokens, query):
    url = URL(api.url(f"{BASE}/acme/tempstrong-passwords")).with_query(query)
    status, content_type, payload = await _send(api, tokens.admin(), "GET", url, None, "")
    _check(status, content_type, payload, query)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_unauthenticated_requests_get_the_shape_before_any_parsing(api, route):
    async with api.session.request(
        route.method, api.url(route.path("acme", "someone")), data=b"\xff not json"
    ) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error_shape(await response.json(), 401)
