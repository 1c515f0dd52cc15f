"""Nothing secret reaches the logs: fragments, whole passwords, guesses, tokens, the hash key.

Every logger is captured at DEBUG while a caller creates, resets, verifies (right and wrong),
replays with an Idempotency-Key and provokes the error paths (bad JSON, 413, a too-long header).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from tests.conftest import HASH_KEY
from tests.support.http import Caller, credential_path


async def test_no_secret_in_any_log_record(api, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    token = tokens.admin()
    caller = Caller(api, token)
    secrets: list[str] = [token, token.rsplit(".", 1)[1], HASH_KEY.decode()]

    user, created = await caller.user_with_credential(policyExtId="tsp-none")
    secrets.append(created["tempStrongPassword"])
    _, body = await caller.reset("acme", user, headers={"Idempotency-Key": "log-k1"})
    secrets.append(body["tempStrongPassword"])
    await caller.reset("acme", user, headers={"Idempotency-Key": "log-k1"})  # replay
    guess = "guess-" + body["tempStrongPassword"][::-1]
    secrets.append(guess)
    await caller.verify("acme", user, guess)
    assert (await caller.verify("acme", user, body["tempStrongPassword"]))[0].status == 200
    exposed, exposed_body = await caller.user_with_credential()  # fragment0 in the response
    secrets.append(exposed_body["tempStrongPassword"])
    _, stored = await caller.get("acme", exposed)
    secrets.append(stored["tempStrongPassword"].split("}", 1)[1])  # the hash itself

    # error paths: malformed JSON that quotes the password, 413, a header over the limit
    path = credential_path("acme", user) + "/verify"
    await caller.request(
        "POST", path, data=f'{{"password": "{guess}"', headers={"Content-Type": "application/json"}
    )
    await caller.request(
        "POST",
        path,
        data=b'{"password": "' + guess.encode() * 2000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    parts = urlsplit(api.base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"GET {credential_path('acme', user)} HTTP/1.1\r\nHost: x\r\n"
        f"X-Token: {token}{'.' * 9000}\r\n\r\n".encode()
    )
    await writer.drain()
    await asyncio.wait_for(reader.read(), 10)
    writer.close()

    text = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    assert caplog.records, "nothing was logged at all: the capture is not working"
    for secret in secrets:
        assert secret not in text, f"a secret of length {len(secret)} is in the logs"
