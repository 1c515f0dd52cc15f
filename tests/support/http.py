"""Thin HTTP helpers for the integration tests."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import ClientResponse

BASE = "/nevisidm/api/core/v1"


def user_path(client: str, user: str) -> str:
    return f"{BASE}/{client}/users/{user}"


def credential_path(client: str, user: str) -> str:
    return f"{user_path(client, user)}/tempstrong-password"


def new_user_id() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


class Caller:
    """Sends requests with one token."""

    def __init__(self, api: Any, token: str) -> None:
        self.api = api
        self.token = token

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> tuple[ClientResponse, Any]:
        all_headers = {"X-Token": self.token, **(headers or {})}
        async with self.api.session.request(
            method, self.api.url(path), json=json, data=data, headers=all_headers
        ) as response:
            body: Any = None
            if response.content_type == "application/json":
                body = await response.json()
            else:
                await response.read()
            return response, body

    async def create_user(self, client: str, user: str | None = None, **profile: Any) -> str:
        user = user or new_user_id()
        body = {"extId": user, "email": f"{user}@example.com", "mobile": "+41790000000", **profile}
        response, payload = await self.request("POST", f"{BASE}/{client}/users", json=body)
        assert response.status == 201, payload
        return user

    async def create_credential(self, client: str, user: str, **body: Any) -> tuple[int, Any]:
        response, payload = await self.request("POST", credential_path(client, user), json=body)
        return response.status, payload

    async def user_with_credential(self, client: str = "acme", **body: Any) -> tuple[str, Any]:
        user = await self.create_user(client)
        status, payload = await self.create_credential(client, user, **body)
        assert status == 201, payload
        return user, payload

    async def reset(self, client: str, user: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return await self.request("POST", credential_path(client, user) + "/reset", headers=headers)

    async def verify(self, client: str, user: str, password: str):  # type: ignore[no-untyped-def]
        return await self.request(
            "POST", credential_path(client, user) + "/verify", json={"password": password}
        )

    async def get(self, client: str, user: str):  # type: ignore[no-untyped-def]
        return await self.request("GET", credential_path(client, user))
