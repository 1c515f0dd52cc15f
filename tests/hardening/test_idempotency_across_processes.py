"""Issue 11, finding 2: one Idempotency-Key, one reset, whichever API process each retry reaches.

Two requests with the same key sent at once to two API processes both answered a fresh 200 with
different fragments, and two events were stored (6 of 20 trials): the guarantee lived in one
process's memory. It now lives in the event store (the record's version decides who wins).
"""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg

from service.domain.credential import TempStrongPassword
from tests.support.cluster import api_cluster
from tests.support.http import BASE

TRIALS = 20
PER_TRIAL = 6  # requests with the one key, alternating between the two processes


async def test_the_same_key_at_two_processes_resets_once(tmp_path, fresh_database):
    with api_cluster(tmp_path, fresh_database, count=2) as cluster:
        headers = {"X-Token": cluster.token}
        async with aiohttp.ClientSession(headers=headers) as session:
            outcomes = []
            for trial in range(TRIALS):
                user = f"idem-{trial}"
                path = f"{BASE}/acme/users/{user}"
                async with session.post(
                    cluster.base(0) + f"{BASE}/acme/users",
                    json={"extId": user, "email": f"{user}@example.com"},
                ) as r:
                    assert r.status == 201
                async with session.post(
                    cluster.base(0) + path + "/tempstrong-password",
                    json={"extId": f"cred-{trial}", "policyExtId": "tsp-busy"},
                ) as r:
                    assert r.status == 201

                async def reset(index: int, user_path: str = path) -> tuple[int, str | None, str]:
                    async with session.post(
                        cluster.base(index) + user_path + "/tempstrong-password/reset",
                        headers={"Idempotency-Key": "one-key"},
                    ) as r:
                        body = await r.json()
                        replayed = r.headers.get("Idempotent-Replayed")
                        return r.status, replayed, str(body.get("tempStrongPassword"))

                outcomes.append(await asyncio.gather(*(reset(i % 2) for i in range(PER_TRIAL))))
    fresh = [[o for o in trial if o[0] == 200 and o[1] is None] for trial in outcomes]
    assert all(len(f) == 1 for f in fresh), outcomes
    for trial in outcomes:
        for status, replayed, secret in trial:
            assert status == 409 or (status == 200 and (replayed is None or secret == "None"))
    connection = await asyncpg.connect(fresh_database)
    try:
        for trial in range(TRIALS):
            credential_id = TempStrongPassword.create_id("acme", f"cred-{trial}")
            resets = await connection.fetchval(
                "SELECT count(*) FROM tempstrong_events WHERE originator_id = $1 "
                "AND topic LIKE '%TempStrongPasswordReset'",
                credential_id,
            )
            assert resets == 1, f"trial {trial}: {resets} resets stored for one key"
    finally:
        await connection.close()
