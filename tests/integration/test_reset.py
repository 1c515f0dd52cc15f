"""The seed: POST .../tempstrong-password/reset."""

from __future__ import annotations

import asyncio
import re

from tests.support.http import Caller, credential_path

SEED_FIELDS = {
    "created",
    "lastModified",
    "version",
    "extId",
    "userExtId",
    "policyExtId",
    "stateName",
    "stateChangeReason",
    "stateChangeDetail",
    "lastSuccessfulLoginDate",
    "successfulLoginCount",
    "lastFailedLoginDate",
    "failedLoginCount",
    "modificationComment",
    "type",
    "tempStrongPassword",
    "resetCount",
}
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def test_reset_returns_the_seed_schema_with_fragment0(api, tokens):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential()
    response, body = await caller.reset("acme", user)
    assert response.status == 200
    assert set(body) - {"createdBy", "modifiedBy"} <= SEED_FIELDS
    assert body["type"] == "Temporary Strong Password"
    assert body["stateName"] == "initial"
    assert body["stateChangeReason"] == "reset"
    assert body["resetCount"] == 1
    assert body["failedLoginCount"] == 0 and body["successfulLoginCount"] == 0
    assert body["version"] == created["version"] + 1
    assert body["userExtId"] == user and body["extId"] == created["extId"]
    assert body["policyExtId"] == "tsp-default"
    assert ISO_MS_Z.match(body["created"]) and ISO_MS_Z.match(body["lastModified"])
    fragment0 = body["tempStrongPassword"]
    assert len(fragment0) == 30 and fragment0.isalnum()
    assert fragment0 != created["tempStrongPassword"]
    # fields without a value are omitted, never null
    assert all(value is not None for value in body.values())
    assert "lastSuccessfulLoginDate" not in body


async def test_reset_of_hidden_policy_answers_204_without_body(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-hidden-sms")
    response, body = await caller.reset("acme", user)
    assert response.status == 204
    assert body is None
    _, stored = await caller.get("acme", user)
    assert stored["resetCount"] == 1


async def test_a_body_sent_with_a_reset_is_checked_like_any_other(api, tokens):
    """The reset takes no fields; the API's 413 and 415 hold for it too."""
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    path = credential_path("acme", user) + "/reset"
    for data, content_type, status in (
        (b"x=1", "application/x-www-form-urlencoded", 415),
        (b'{"pad": "' + b"a" * (64 * 1024) + b'"}', "application/json", 413),
        (b'{"pad": 1}', "application/json", 400),
        (b"{}", "application/json", 200),
    ):
        response, body = await caller.request(
            "POST", path, data=data, headers={"Content-Type": content_type}
        )
        assert response.status == status, (status, body)
    _, stored = await caller.get("acme", user)
    assert stored["resetCount"] == 1


async def test_reset_without_out_of_band_channel_returns_the_whole_password(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-none")
    response, body = await caller.reset("acme", user)
    assert response.status == 200
    password = body["tempStrongPassword"]
    assert len(password) == 38
    verified, result = await caller.verify("acme", user, password)
    assert verified.status == 200 and result == {"result": "ok"}


async def test_reset_stops_at_max_reset_count(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-two-resets")
    for expected in (1, 2):
        response, body = await caller.reset("acme", user)
        assert response.status == 200 and body["resetCount"] == expected
    response, body = await caller.reset("acme", user)
    assert response.status == 422
    assert body["errors"][0]["code"] == "errors.maxResetCountReached"
    _, stored = await caller.get("acme", user)
    assert stored["resetCount"] == 2 and stored["version"] == 3


async def test_concurrent_resets_never_pass_max_reset_count(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-two-resets")
    results = await asyncio.gather(*(caller.reset("acme", user) for _ in range(12)))
    statuses = sorted(response.status for response, _ in results)
    assert statuses.count(200) == 2
    assert set(statuses) <= {200, 409, 422}
    _, events = await caller.request("GET", credential_path("acme", user) + "/events")
    types = [item["type"] for item in events["items"]]
    assert types.count("TempStrongPasswordReset") == 2


async def test_reset_clears_failures_and_locks(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-strict")
    for _ in range(2):
        response, _ = await caller.verify("acme", user, "wrong")
    _, locked = await caller.get("acme", user)
    assert locked["stateName"] == "tmp-locked" and locked["failedLoginCount"] == 2
    response, body = await caller.reset("acme", user)
    assert response.status == 200
    assert body["stateName"] == "initial" and body["failedLoginCount"] == 0


async def test_reset_of_archived_credential_is_refused(api, tokens):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential()
    response, _ = await caller.request(
        "PATCH",
        credential_path("acme", user),
        json={"version": created["version"], "stateName": "archived"},
    )
    assert response.status == 200
    response, body = await caller.reset("acme", user)
    assert response.status == 422 and body["errors"][0]["code"] == "errors.credentialArchived"


async def test_reset_of_unknown_user_or_credential_is_404(api, tokens):
    caller = Caller(api, tokens.admin())
    response, body = await caller.reset("acme", "nobody-here")
    assert response.status == 404 and body["errors"][0]["code"] == "errors.noRecord"
    user = await caller.create_user("acme")
    response, body = await caller.reset("acme", user)
    assert response.status == 404
    response, body = await caller.reset("unknown-client", user)
    assert response.status == 404


async def test_reset_needs_view_and_modify_permissions(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    for permissions in (
        ("AccessControl.CredentialView",),
        ("AccessControl.CredentialModify",),
    ):
        response, body = await Caller(api, tokens.with_permissions(*permissions)).reset(
            "acme", user
        )
        assert response.status == 403 and body["errors"][0]["code"] == "errors.forbidden"
    both = tokens.with_permissions("AccessControl.CredentialView", "AccessControl.CredentialModify")
    response, _ = await Caller(api, both).reset("acme", user)
    assert response.status == 200


async def test_self_admin_resets_only_its_own_credential(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    other, _ = await admin.user_with_credential()
    me = Caller(api, tokens.self_admin("acme", user))
    response, body = await me.reset("acme", user)
    assert response.status == 200
    assert "createdBy" not in body and "modifiedBy" not in body
    response, body = await me.reset("acme", other)
    assert response.status == 403
    response, body = await me.reset("other", user)
    assert response.status == 403
    # out of scope gets 403 before any lookup: unknown users look the same
    response, body = await me.reset("acme", "does-not-exist")
    assert response.status == 403


async def test_idempotent_reset_replays_first_outcome(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    key = {"Idempotency-Key": "reset-1"}
    first, body1 = await caller.reset("acme", user, headers=key)
    second, body2 = await caller.reset("acme", user, headers=key)
    assert first.status == 200 and second.status == 200
    assert "tempStrongPassword" in body1 and "tempStrongPassword" not in body2
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert body2["version"] == body1["version"] and body2["resetCount"] == 1
    third, body3 = await caller.reset("acme", user, headers={"Idempotency-Key": "reset-2"})
    assert third.status == 200 and body3["resetCount"] == 2


async def test_idempotency_is_scoped_to_the_caller(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    key = {"Idempotency-Key": "shared-key"}
    _, a = await admin.reset("acme", user, headers=key)
    _, b = await Caller(api, tokens.admin(sub="helpdesk-2")).reset("acme", user, headers=key)
    assert b["resetCount"] == a["resetCount"] + 1


async def test_idempotent_replay_of_hidden_reset_is_204(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-hidden-sms")
    key = {"Idempotency-Key": "hidden-1"}
    first, _ = await caller.reset("acme", user, headers=key)
    second, _ = await caller.reset("acme", user, headers=key)
    assert first.status == second.status == 204
    assert second.headers["Idempotent-Replayed"] == "true"


async def test_failed_reset_is_not_remembered_by_idempotency(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-two-resets")
    await caller.reset("acme", user)
    await caller.reset("acme", user)
    key = {"Idempotency-Key": "after-max"}
    response, _ = await caller.reset("acme", user, headers=key)
    assert response.status == 422
    response, _ = await caller.reset("acme", user, headers=key)
    assert response.status == 422


async def test_concurrent_duplicates_with_one_key_make_one_event(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    key = {"Idempotency-Key": "burst"}
    results = await asyncio.gather(*(caller.reset("acme", user, headers=key) for _ in range(6)))
    statuses = [r.status for r, _ in results]
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    _, events = await caller.request("GET", credential_path("acme", user) + "/events")
    assert [i["type"] for i in events["items"]].count("TempStrongPasswordReset") == 1


async def test_bad_idempotency_key_is_400(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    response, body = await caller.reset("acme", user, headers={"Idempotency-Key": "x" * 300})
    assert response.status == 400 and body["errors"][0]["code"] == "errors.validation"


async def test_the_request_id_is_stored_with_the_event_as_its_correlation_id(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    response, _ = await caller.reset("acme", user, headers={"X-Request-Id": "corr-reset-1"})
    assert response.status == 200 and response.headers["X-Request-Id"] == "corr-reset-1"
    _, events = await caller.request("GET", credential_path("acme", user) + "/events")
    reset = events["items"][-1]
    assert reset["type"] == "TempStrongPasswordReset"
    assert reset["data"]["correlationId"] == "corr-reset-1"
    created = events["items"][0]
    assert created["data"]["correlationId"] not in ("corr-reset-1", None)
