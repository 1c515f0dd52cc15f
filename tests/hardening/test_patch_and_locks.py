"""Issue 11, finding 5: a PATCH never makes a lock permanent nor gives guesses back.

A comment-only PATCH while tmp-locked made the lock permanent; PATCHing `stateName: tmp-locked`
did the same; a comment after a lock expired zeroed `failedLoginCount`. The rule now is
what a PATCH does to locks; these go through HTTP, with the real clock moved forward.
"""

from __future__ import annotations

from tests.support.http import Caller, credential_path


async def _locked(caller: Caller) -> tuple[str, str, str]:
    """A tsp-strict credential (tmp-lock after 2 failures, fail-lock after 5), tmp-locked, and
    its whole password (the policy sends fragment1 by Email, so: a tsp-none-like check below)."""
    user, created = await caller.user_with_credential("acme", policyExtId="tsp-strict")
    for _ in range(2):
        await caller.verify("acme", user, "wrong")
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "tmp-locked" and stored["failedLoginCount"] == 2
    return user, credential_path("acme", user), created["tempStrongPassword"]


async def test_a_comment_while_tmp_locked_keeps_the_lock_and_its_end(api, tokens, clock):
    caller = Caller(api, tokens.admin())
    user, path, _ = await _locked(caller)
    _, stored = await caller.get("acme", user)
    response, body = await caller.request(
        "PATCH", path, json={"version": stored["version"], "modificationComment": "called"}
    )
    assert response.status == 200, body
    assert body["stateName"] == "tmp-locked" and body["failedLoginCount"] == 2
    response, body = await caller.verify("acme", user, "wrong")
    assert response.status == 423  # still locked, not counted
    clock.advance(seconds=61)
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "initial" and stored["failedLoginCount"] == 2
    response, _ = await caller.verify("acme", user, "wrong")
    assert response.status == 401  # the lock ended by time alone: the next try is checked


async def test_a_patch_never_sets_a_locked_state(api, tokens):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential("acme", policyExtId="tsp-strict")
    for state in ("tmp-locked", "fail-locked"):
        response, body = await caller.request(
            "PATCH",
            credential_path("acme", user),
            json={"version": created["version"], "stateName": state},
        )
        assert response.status == 422 and body["errors"][0]["code"] == "errors.stateNotAllowed"
    other = await caller.create_user("acme")
    status, body = await caller.create_credential("acme", other, stateName="tmp-locked")
    assert status == 422 and body["errors"][0]["code"] == "errors.stateNotAllowed"


async def test_a_comment_after_a_lock_expired_gives_no_extra_guesses(api, tokens, clock):
    caller = Caller(api, tokens.admin())
    user, path, _ = await _locked(caller)
    clock.advance(seconds=61)
    _, stored = await caller.get("acme", user)
    response, body = await caller.request(
        "PATCH", path, json={"version": stored["version"], "modificationComment": "note"}
    )
    assert response.status == 200 and body["failedLoginCount"] == 2
    failures = 2
    while True:  # strict mode: every failure from here on locks again, until fail-locked at 5
        response, _ = await caller.verify("acme", user, "wrong")
        assert response.status == 401
        failures += 1
        _, stored = await caller.get("acme", user)
        if stored["stateName"] == "fail-locked":
            break
        clock.advance(seconds=61)
    assert failures == 5 and stored["failedLoginCount"] == 5


async def test_an_admin_patch_to_active_unlocks_and_zeroes_the_count(api, tokens):
    caller = Caller(api, tokens.admin())
    user, path, _ = await _locked(caller)
    _, stored = await caller.get("acme", user)
    response, body = await caller.request(
        "PATCH", path, json={"version": stored["version"], "stateName": "active"}
    )
    assert response.status == 200
    assert body["stateName"] == "active" and body["failedLoginCount"] == 0
    assert body["stateChangeReason"] == "changed-by-admin"
