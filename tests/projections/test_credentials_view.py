"""The credentials read model against real PostgreSQL, and the list endpoint it serves."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from projections.credentials.rows import decode_credential
from service.domain.credential import TempStrongPassword
from service.http.render import credential_body
from tests.support.http import BASE, Caller, credential_path

LIST = f"{BASE}/acme/tempstrong-passwords"


async def mixed_workload(caller: Caller, users: int = 12) -> list[str]:
    created = []
    for _ in range(users):
        policy = random.choice(["tsp-default", "tsp-strict", "tsp-none", "tsp-two-resets"])
        user, _ = await caller.user_with_credential(policyExtId=policy)
        created.append(user)

    async def churn(user: str) -> None:
        for _ in range(random.randint(1, 5)):
            action = random.random()
            if action < 0.4:
                await caller.reset("acme", user)
            elif action < 0.8:
                await caller.verify("acme", user, "wrong-password")
            else:
                _, body = await caller.get("acme", user)
                if body and "version" in body:
                    await caller.request(
                        "PATCH",
                        credential_path("acme", user),
                        json={"version": body["version"], "modificationComment": "churn"},
                    )

    await asyncio.gather(*(churn(u) for u in created))
    deleted = created.pop()
    await caller.request("DELETE", credential_path("acme", deleted))
    return created


async def view_rows(database_url: str, table: str = "credentials") -> dict:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(f"SELECT * FROM {table}")
    finally:
        await connection.close()
    return {r["credential_id"]: dict(r) for r in rows}


async def test_view_matches_the_aggregates_after_a_mixed_workload(
    api, tokens, store, projector, database_url
):
    caller = Caller(api, tokens.admin())
    users = await mixed_workload(caller)
    await projector.caught_up()
    rows = await view_rows(database_url)
    now = api.context.queries.now()
    for user in users:
        aggregate = (await api.context.queries.credentials.get("acme", user)).credential
        row = rows[aggregate.id]
        assert row["version"] == aggregate.version
        assert row["state_name"] == aggregate.state.value
        assert row["reset_count"] == aggregate.reset_count
        projected = decode_credential(bytes(row["state"]), store.mapper.transcoder)
        assert credential_body(projected, now, temp_strong_password=None, include_actors=True) == (
            credential_body(aggregate, now, temp_strong_password=None, include_actors=True)
        )
        assert b"SSHA256" not in bytes(row["state"])
    # deleted credentials leave the view; no row is a deleted aggregate
    for credential_id in rows:
        assert not store.repository.get(credential_id).deleted


async def test_list_endpoint_pages_and_filters(api, tokens, projector):
    caller = Caller(api, tokens.admin())
    users = []
    for _ in range(5):
        user, _ = await caller.user_with_credential(policyExtId="tsp-strict")
        users.append(user)
    await caller.verify("acme", users[0], "wrong")
    await caller.verify("acme", users[0], "wrong")  # tmp-locked
    await projector.caught_up()
    seen = []
    token = None
    while True:
        query = f"?limit=2{f'&continuationToken={token}' if token else ''}"
        response, body = await caller.request("GET", LIST + query)
        assert response.status == 200
        assert body["_pagination"]["limit"] == 2
        assert len(body["items"]) <= 2
        seen += [item["userExtId"] for item in body["items"]]
        token = body["_pagination"].get("continuationToken")
        if not token:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(users) <= set(seen)
    assert all("tempStrongPassword" not in item for item in body["items"])
    response, body = await caller.request("GET", LIST + "?stateName=tmp-locked&limit=1000")
    locked = {item["userExtId"] for item in body["items"]}
    assert users[0] in locked and users[1] not in locked


async def test_bad_list_parameters_are_400(api, tokens, projector):
    caller = Caller(api, tokens.admin())
    for query in (
        "?limit=0",
        "?limit=1001",
        "?limit=abc",
        "?limit=-1",
        "?continuationToken=garbage!",
        "?continuationToken=eyJ2IjoyfQ",
        "?stateName=sleepy",
        "?bogus=1",
    ):
        response, body = await caller.request("GET", LIST + query)
        assert response.status == 400, query
        assert body["errors"][0]["code"] == "errors.validation"


async def test_list_scoping_and_unknown_client(api, tokens, projector):
    other = Caller(api, tokens.with_permissions("AccessControl.CredentialView", clients=["other"]))
    assert (await other.request("GET", LIST))[0].status == 403
    admin = Caller(api, tokens.admin())
    assert (await admin.request("GET", f"{BASE}/nowhere/tempstrong-passwords"))[0].status == 404
    reset_only = Caller(api, tokens.with_permissions("AccessControl.CredentialModify"))
    assert (await reset_only.request("GET", LIST))[0].status == 403


async def test_pagination_returns_each_row_once_under_concurrent_writes(api, tokens, projector):
    caller = Caller(api, tokens.admin())
    client_users = []
    for _ in range(20):
        user, _ = await caller.user_with_credential(policyExtId="tsp-none")
        client_users.append(user)
    await projector.caught_up()
    stop = asyncio.Event()

    async def writer() -> None:
        while not stop.is_set():
            await caller.reset("acme", random.choice(client_users))
            await caller.user_with_credential(policyExtId="tsp-none")

    task = asyncio.create_task(writer())
    try:
        seen: list[str] = []
        token = None
        while True:
            query = f"?limit=3{f'&continuationToken={token}' if token else ''}"
            _, body = await caller.request("GET", LIST + query)
            seen += [item["userExtId"] for item in body["items"]]
            token = body["_pagination"].get("continuationToken")
            if not token:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    assert len(seen) == len(set(seen))
    assert set(client_users) <= set(seen)


async def test_rebuild_gives_the_same_rows_as_the_live_view(
    api, tokens, store, projector, database_url
):
    from projections.credentials.postgres import rebuild

    caller = Caller(api, tokens.admin())
    await mixed_workload(caller, users=6)
    await projector.caught_up()
    before = await view_rows(database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        replayed = await rebuild(pool, store.mapper, projector.source.read_after)
    finally:
        await pool.close()
    assert replayed >= len(before)
    after = await view_rows(database_url)
    assert after == before
    # the live projector keeps working on the swapped-in table
    user, _ = await caller.user_with_credential()
    await projector.caught_up()
    rows = await view_rows(database_url)
    aggregate = (await api.context.queries.credentials.get("acme", user)).credential
    assert rows[aggregate.id]["version"] == 1
    assert isinstance(aggregate, TempStrongPassword)


async def test_a_replaced_credential_and_its_successor_apply_in_one_batch(
    api, tokens, store, projector, database_url
):
    """A user's credential deleted and a new one created: a replay applies both in one batch
    (the row of the deleted one goes before the new one takes the user's place)."""
    from projections.credentials.postgres import rebuild

    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    await caller.request("DELETE", credential_path("acme", user))
    response, created = await caller.request("POST", credential_path("acme", user))
    assert response.status == 201
    await projector.caught_up()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await rebuild(pool, store.mapper, projector.source.read_after)
    finally:
        await pool.close()
    mine = [r for r in (await view_rows(database_url)).values() if r["user_ext_id"] == user]
    assert [r["ext_id"] for r in mine] == [created["extId"]]
