"""Authorization on every route: permissions, client scope and SelfAdmin.

Every refusal is a 403 `errors.forbidden` that comes before any lookup (an existing and a
nonexistent target answer the same) and leaves no event behind.
"""

from __future__ import annotations

import pytest

from service.http.app import create_app
from tests.security.routes import (
    NON_SELF_ADMIN_ROUTES,
    ROUTE_IDS,
    ROUTES,
    SELF_ADMIN_ROUTES,
    Route,
    assert_error_shape,
    one_short,
)
from tests.support.http import Caller, new_user_id

SYSTEM_PATHS = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json"}


async def _call(api, token: str, route: Route, client: str, user: str):
    caller = Caller(api, token)
    return await caller.request(
        route.method, route.path(client, user), json=route.request_body(new_user_id())
    )


async def _assert_forbidden(api, token: str, route: Route, client: str, user: str) -> None:
    response, body = await _call(api, token, route, client, user)
    assert response.status == 403, (route.name, client, user, response.status, body)
    assert_error_shape(body, 403)
    assert body["errors"][0]["code"] == "errors.forbidden"


def test_the_table_covers_every_registered_route(api):
    registered = {
        (route.method, route.resource.canonical)
        for route in create_app(api.context).router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    api_routes = {(m, p) for m, p in registered if p not in SYSTEM_PATHS}
    assert api_routes == {(r.method, r.canonical) for r in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_one_permission_short_is_403_before_any_lookup(api, tokens, targets, route):
    user = await targets.for_route(route)
    before = await targets.events("acme", user)
    refused = 0
    for _, permissions in one_short(route):
        token = tokens.with_permissions(*sorted(permissions), clients=["acme"])
        await _assert_forbidden(api, token, route, "acme", user)
        await _assert_forbidden(api, token, route, "acme", new_user_id())  # would be a 404
        await _assert_forbidden(api, token, route, "nowhere", user)  # would be a 404
        refused += 3
    assert refused == 6 * len(route.permissions)
    assert await targets.events("acme", user) == before  # nothing happened
    # the boundary: exactly the needed permissions succeed
    exact = tokens.with_permissions(*(p.value for p in route.permissions), clients=["acme"])
    response, body = await _call(api, exact, route, "acme", user)
    assert response.status == route.success, (route.name, body)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_client_scope_is_403_before_any_lookup(api, tokens, targets, route):
    user = await targets.for_route(route)
    everything = [p.value for p in route.permissions]
    out_of_scope = [
        tokens.with_permissions(*everything, clients=["other"]),
        tokens.with_permissions(*everything, clients=["ACME"]),  # ids are case-sensitive
        tokens.with_permissions(*everything, clients=["acme-"]),
        tokens.with_permissions(*everything, clients=["nowhere"]),
        tokens.token(permissions=everything, clients=[]),
        tokens.token(permissions=everything, clients=None),
        tokens.admin(clients=["other", "plain"]),
    ]
    for token in out_of_scope:
        await _assert_forbidden(api, token, route, "acme", user)
        await _assert_forbidden(api, token, route, "acme", new_user_id())
    # a nonexistent client is refused as out of scope, not answered 404 (nothing leaks)
    scoped = tokens.admin(clients=["acme"])
    await _assert_forbidden(api, scoped, route, "no-such-client", user)
    await _assert_forbidden(api, scoped, route, "other", user)
    # the positive control: in scope, the same permissions work
    response, body = await _call(api, scoped, route, "acme", user)
    assert response.status == route.success, (route.name, body)


@pytest.mark.parametrize("route", SELF_ADMIN_ROUTES, ids=[r.name for r in SELF_ADMIN_ROUTES])
async def test_self_admin_reaches_only_its_own_user(api, tokens, targets, route):
    me = await targets.for_route(route, "acme")
    neighbour = await targets.for_route(route, "acme")
    # the same userExtId in another client is another person
    await targets.for_route(route, "other", user=me)
    token = tokens.self_admin("acme", me)
    await _assert_forbidden(api, token, route, "acme", neighbour)
    await _assert_forbidden(api, token, route, "acme", new_user_id())
    await _assert_forbidden(api, token, route, "other", me)
    await _assert_forbidden(api, token, route, "no-such-client", me)
    await _assert_forbidden(api, token, route, "acme", me.upper())
    # near misses in the token itself
    for forged in (
        tokens.token(sub=me, roles=["SelfAdmin"], client="ACME"),
        tokens.token(sub=me, roles=["SelfAdmin"], client="*"),
        tokens.token(sub=me, roles=["SelfAdmin"]),  # no client claim
        tokens.token(sub=me, roles=["selfadmin"], client="acme"),
        tokens.token(sub=me, roles=[], client="acme"),
        tokens.token(sub=me.upper(), roles=["SelfAdmin"], client="acme"),
    ):
        await _assert_forbidden(api, forged, route, "acme", me)
    response, body = await _call(api, token, route, "acme", me)
    assert response.status == route.success, (route.name, body)
    if isinstance(body, dict) and "version" in body:
        assert "createdBy" not in body and "modifiedBy" not in body


@pytest.mark.parametrize(
    "route", NON_SELF_ADMIN_ROUTES, ids=[r.name for r in NON_SELF_ADMIN_ROUTES]
)
async def test_self_admin_is_refused_where_the_route_does_not_allow_it(api, tokens, targets, route):
    me = await targets.for_route(route, "acme")
    before = await targets.events("acme", me)
    await _assert_forbidden(api, tokens.self_admin("acme", me), route, "acme", me)
    # SelfAdmin does not combine with permissions that are not scoped to a client
    mixed = tokens.token(
        sub=me, roles=["SelfAdmin"], client="acme", permissions=[p.value for p in route.permissions]
    )
    await _assert_forbidden(api, mixed, route, "acme", me)
    assert await targets.events("acme", me) == before
