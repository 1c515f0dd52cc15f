"""What the soak's callers do: resets (some with an Idempotency-Key, retried), verifies and
PATCHes from two clients, spread over two API processes. Every request carries its own
X-Request-Id, which the event store keeps as the correlation id of what it caused."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from tests.support.http import BASE

CLIENTS = ("acme", "other")
POLICY = "tsp-soak"
REQUEST_SECONDS = 20.0


@dataclass(frozen=True)
class Op:
    request_id: str
    kind: str
    user: tuple[str, str]
    status: int | None  # None: no answer reached the caller (the outcome is unknown)
    replayed: bool = False
    version: int | None = None

    @property
    def acknowledged(self) -> bool:
        """The caller was told the write happened: it must be in the event store."""
        if self.status is None or self.replayed:
            return False
        if self.kind == "verify":
            return self.status in (200, 401)  # a wrong password is a stored LoginFailed
        return 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """The caller was told it did not happen: nothing of it may be in the event store."""
        return self.status is not None and not self.acknowledged and not self.replayed


@dataclass
class Workload:
    bases: list[str]
    token: str
    users: list[tuple[str, str]] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    # the fragment0 each credential version's caller saw, to complete with the mailed code
    fragments: dict[tuple[tuple[str, str], int], str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def request_id(self) -> str:
        return f"soak-{next(self._ids)}"

    @property
    def statuses(self) -> Counter[str]:
        return Counter(f"{op.kind} {op.status}" for op in self.ops)

    async def prepare(self, session: aiohttp.ClientSession, per_client: int) -> None:
        for client in CLIENTS:
            for index in range(per_client):
                user = (client, f"soak-{client}-{index}")
                base = self.bases[index % len(self.bases)] + f"{BASE}/{client}/users"
                email = f"{user[1]}@mail.example"
                async with session.post(base, json={"extId": user[1], "email": email}) as r:
                    assert r.status == 201, await r.text()
                async with session.post(
                    f"{base}/{user[1]}/tempstrong-password", json={"policyExtId": POLICY}
                ) as r:
                    body = await r.json()
                    assert r.status == 201, body
                    self.fragments[(user, body["version"])] = body["tempStrongPassword"]
                self.users.append(user)

    async def run(self, session: aiohttp.ClientSession, seconds: float, callers: int) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(
            *(self._caller(session, random.Random(i), deadline) for i in range(callers))
        )

    async def _caller(
        self, session: aiohttp.ClientSession, rng: random.Random, deadline: float
    ) -> None:
        while asyncio.get_running_loop().time() < deadline:
            user = rng.choice(self.users)
            roll = rng.random()
            if roll < 0.40:
                await self._reset(session, rng, user, None)
            elif roll < 0.55:
                key = f"key-{rng.getrandbits(48):x}"
                await self._reset(session, rng, user, key)
                await self._reset(session, rng, user, key)  # the retry: a replay
            elif roll < 0.85:
                await self._send(session, rng, "verify", user, "/verify", {"password": "wrong"})
            else:
                await self._patch(session, rng, user)

    async def _reset(
        self,
        session: aiohttp.ClientSession,
        rng: random.Random,
        user: tuple[str, str],
        key: str | None,
    ) -> None:
        headers = {"Idempotency-Key": key} if key else {}
        body = await self._send(session, rng, "reset", user, "/reset", None, headers)
        if body and "tempStrongPassword" in body:
            self.fragments[(user, body["version"])] = body["tempStrongPassword"]

    async def _patch(
        self, session: aiohttp.ClientSession, rng: random.Random, user: tuple[str, str]
    ) -> None:
        current = await self._send(session, rng, "get", user, "", None, method="GET")
        if not current or "version" not in current:
            return
        state = rng.choice([None, "active", "disabled", "initial"])
        patch: dict[str, object] = {"version": current["version"], "modificationComment": "soak"}
        if state is not None:
            patch["stateName"] = state
        await self._send(session, rng, "patch", user, "", patch, method="PATCH")

    async def _send(
        self,
        session: aiohttp.ClientSession,
        rng: random.Random,
        kind: str,
        user: tuple[str, str],
        suffix: str,
        payload: object,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> dict[str, object] | None:
        request_id = self.request_id()
        url = (
            rng.choice(self.bases) + f"{BASE}/{user[0]}/users/{user[1]}/tempstrong-password{suffix}"
        )
        all_headers = {"X-Request-Id": request_id, **(headers or {})}
        try:
            async with session.request(
                method,
                url,
                json=payload,
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS),
            ) as response:
                body = await response.json() if response.content_type.endswith("json") else None
                replayed = response.headers.get("Idempotent-Replayed") == "true"
                version = body.get("version") if isinstance(body, dict) else None
                if kind != "get":
                    self.ops.append(Op(request_id, kind, user, response.status, replayed, version))
                return body if isinstance(body, dict) else None
        except (aiohttp.ClientError, TimeoutError):
            if kind != "get":
                self.ops.append(Op(request_id, kind, user, None))
            return None
