"""No plaintext fragment at rest: read the raw stored events back from PostgreSQL."""

from __future__ import annotations

import asyncpg

from service.contracts.envelope import SealedDelivery
from service.security.sealing import Opener
from tests.support.http import Caller
from tests.support.personal import reveal


async def test_no_fragment_in_the_stored_events(api, tokens, database_url, delivery_keys):
    caller = Caller(api, tokens.admin())
    fragments = []
    user, created = await caller.user_with_credential()
    fragments.append(created["tempStrongPassword"])
    for _ in range(3):
        _, body = await caller.reset("acme", user)
        fragments.append(body["tempStrongPassword"])
    _, none_created = await caller.user_with_credential(policyExtId="tsp-none")
    fragments.append(none_created["tempStrongPassword"])

    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT topic, state FROM tempstrong_events")
        snapshot_rows = await connection.fetch("SELECT state FROM tempstrong_snapshots")
    finally:
        await connection.close()
    blobs = [bytes(r["state"]) for r in rows] + [bytes(r["state"]) for r in snapshot_rows]
    assert len(rows) > 5
    for fragment in fragments:
        for piece in (fragment, fragment[:12], fragment[-8:]):
            assert not any(piece.encode() in blob for blob in blobs), "plaintext at rest"

    # ... yet the sealed envelope carries fragment1 for the delivery worker
    resets = [bytes(r["state"]) for r in rows if r["topic"].endswith("TempStrongPasswordReset")]
    import json

    opener = Opener(delivery_keys.delivery_private_key)
    envelopes = [json.loads(blob)["delivery"] for blob in resets]
    opened = [opener.open(e) for e in envelopes if e]
    mine = [o for o in opened if o["userExtId"] == user]
    assert len(mine) == 3
    assert all(len(o["secret"]) == 8 for o in mine)
    assert [o["version"] for o in mine] == [2, 3, 4]
    # the address is sealed once more, to the person's own data key: the delivery key alone
    # never yields it (and an Email envelope holds no mobile)
    assert all("email" not in o and "mobile" not in o for o in mine)
    delivery = SealedDelivery.from_json(mine[0])
    revealed = await reveal(delivery, database_url, delivery_keys.personal_data_keys_path)
    assert revealed.email == f"{user}@example.com"
