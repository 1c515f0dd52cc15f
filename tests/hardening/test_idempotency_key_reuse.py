"""Issue 18, item 4: an Idempotency-Key sent again with another body replayed the first outcome.

A create with key K for extId `a`, then with K for extId `b`, answered 201 with `a` and
`Idempotent-Replayed: true`: the caller believed `b` was created. The record now holds a
fingerprint of the validated body (SHA-256 of its canonical JSON): the same body (whitespace, key
order, no body or `{}` alike) replays, another one is 422 `errors.idempotencyKeyReused` and
stores nothing, in whichever API process.
"""

from __future__ import annotations

import aiohttp
import asyncpg

from service.domain.credential import TempStrongPassword
from tests.support.cluster import api_cluster
from tests.support.http import BASE, Caller, credential_path

JSON = {"Content-Type": "application/json"}
REUSED = "errors.idempotencyKeyReused"


async def test_a_create_key_sent_again_with_another_body_is_422_and_creates_nothing(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    key = {"Idempotency-Key": "create-reuse-1"}
    ext_a, ext_b = f"{user}-a", f"{user}-b"
    first, created = await caller.request(
        "POST", credential_path("acme", user), json={"extId": ext_a}, headers=key
    )
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    # the same request, written otherwise: a replay
    same = f'{{ "policyExtId" : null,\n  "extId" : "{ext_a}" }}'
    again, replayed = await caller.request(
        "POST", credential_path("acme", user), data=same, headers={**key, **JSON}
    )
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert replayed["extId"] == ext_a and replayed["version"] == created["version"]
    # another request with the key: refused, never answered with the first outcome
    for other in ({"extId": ext_b}, {"extId": ext_a, "policyExtId": "tsp-none"}, None):
        response, body = await caller.request(
            "POST", credential_path("acme", user), json=other, headers=key
        )
        assert response.status == 422, (other, response.status, body)
        assert body["errors"][0]["code"] == REUSED and "Idempotent-Replayed" not in response.headers
    _, stored = await caller.get("acme", user)
    assert stored["extId"] == ext_a and stored["version"] == 1
    _, events = await caller.request("GET", credential_path("acme", user) + "/events")
    assert [item["type"] for item in events["items"]] == ["TempStrongPasswordCreated"]
    # extId b was never taken: another user may have it
    someone_else = await caller.create_user("acme")
    assert (await caller.create_credential("acme", someone_else, extId=ext_b))[0] == 201


async def test_no_body_and_an_empty_object_are_one_create(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    key = {"Idempotency-Key": "create-reuse-2"}
    first, created = await caller.request("POST", credential_path("acme", user), headers=key)
    assert first.status == 201
    for same in ("{}", "  { }\n", '{"extId": null}'):
        response, body = await caller.request(
            "POST", credential_path("acme", user), data=same, headers={**key, **JSON}
        )
        assert response.status == 201 and response.headers["Idempotent-Replayed"] == "true"
        assert body["extId"] == created["extId"]
    response, body = await caller.request(
        "POST", credential_path("acme", user), json={"policyExtId": "tsp-none"}, headers=key
    )
    assert response.status == 422 and body["errors"][0]["code"] == REUSED


async def test_a_reset_key_replays_for_every_form_of_its_empty_body(api, tokens):
    """The reset takes no fields: no body, `{}` and whitespace are one request; any other body
    is 400 before the key is looked at (so a reset never meets another valid body)."""
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    key = {"Idempotency-Key": "reset-reuse-1"}
    path = credential_path("acme", user) + "/reset"
    first, reset = await caller.request("POST", path, headers=key)
    assert first.status == 200 and "Idempotent-Replayed" not in first.headers
    for same in ("{}", " \n", "{ }"):
        response, body = await caller.request("POST", path, data=same, headers={**key, **JSON})
        assert response.status == 200 and response.headers["Idempotent-Replayed"] == "true"
        assert body["version"] == reset["version"] and "tempStrongPassword" not in body
    response, body = await caller.request("POST", path, json={"extId": "x"}, headers=key)
    assert response.status == 400 and "Idempotent-Replayed" not in response.headers
    _, stored = await caller.get("acme", user)
    assert stored["resetCount"] == 1


async def test_a_key_reused_with_another_body_at_the_other_process_is_422(tmp_path, fresh_database):
    with api_cluster(tmp_path, fresh_database, count=2) as cluster:
        async with aiohttp.ClientSession(headers={"X-Token": cluster.token}) as session:
            users = f"{BASE}/acme/users"
            path = credential_path("acme", "ida")
            key = {"Idempotency-Key": "one-key"}
            async with session.post(cluster.base(0) + users, json={"extId": "ida"}) as r:
                assert r.status == 201
            body = {"extId": "cred-a", "policyExtId": "tsp-none"}
            async with session.post(cluster.base(0) + path, json=body, headers=key) as r:
                assert r.status == 201
            async with session.post(cluster.base(1) + path, json=body, headers=key) as r:
                assert r.status == 201 and r.headers["Idempotent-Replayed"] == "true"
            other = {"extId": "cred-b", "policyExtId": "tsp-none"}
            for index in (1, 0):
                async with session.post(cluster.base(index) + path, json=other, headers=key) as r:
                    assert r.status == 422
                    assert (await r.json())["errors"][0]["code"] == REUSED
    connection = await asyncpg.connect(fresh_database)
    try:
        stored = await connection.fetchval(
            "SELECT count(*) FROM tempstrong_events WHERE originator_id = $1",
            TempStrongPassword.create_id("acme", "cred-b"),
        )
    finally:
        await connection.close()
    assert stored == 0
