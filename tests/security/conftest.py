"""Helpers shared by the security suites: targets for a route, and request counting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.routes import Route
from tests.support.http import Caller, new_user_id


class Targets:
    """Makes what a route acts on, with an admin token, in a given client."""

    def __init__(self, admin: Caller) -> None:
        self.admin = admin

    async def for_route(self, route: Route, client: str = "acme", user: str | None = None) -> str:
        user = user or new_user_id()
        if route.needs in ("user", "credential"):
            await self.admin.create_user(client, user)
        if route.needs == "credential":
            status, body = await self.admin.create_credential(client, user)
            assert status == 201, body
        return user

    async def events(self, client: str, user: str) -> list[Any]:
        response, body = await self.admin.request(
            "GET", f"/nevisidm/api/core/v1/{client}/users/{user}/tempstrong-password/events"
        )
        return body["items"] if response.status == 200 else []


@pytest.fixture
def admin(api, tokens) -> Caller:
    return Caller(api, tokens.admin())


@pytest.fixture
def targets(admin) -> Targets:
    return Targets(admin)


@pytest.fixture(autouse=True)
def _read_model(projector) -> None:
    """The list route reads the read model: without its table it answers 503, so it runs."""
