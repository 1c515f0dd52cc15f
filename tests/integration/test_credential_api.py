"""Every credential and user route: success and refusal paths."""

from __future__ import annotations

import asyncio

from tests.support.http import BASE, Caller, credential_path, new_user_id, user_path

CREATE = "AccessControl.CredentialCreate"
VIEW = "AccessControl.CredentialView"
MODIFY = "AccessControl.CredentialModify"


# -- users -------------------------------------------------------------------------------------


async def test_create_get_delete_user(api, tokens):
    caller = Caller(api, tokens.admin())
    user = new_user_id()
    body = {"extId": user, "loginId": "jdoe", "email": "j@example.com", "language": "de"}
    response, created = await caller.request("POST", f"{BASE}/acme/users", json=body)
    assert response.status == 201
    assert response.headers["Location"] == user_path("acme", user)
    assert {k: created[k] for k in body} == body
    assert created["version"] == 1 and "created" in created and "lastModified" in created
    response, fetched = await caller.request("GET", user_path("acme", user))
    assert response.status == 200 and fetched == created
    response, _ = await caller.request("POST", f"{BASE}/acme/users", json=body)
    assert response.status == 409
    await caller.create_credential("acme", user)
    response, _ = await caller.request("DELETE", user_path("acme", user))
    assert response.status == 204
    response, _ = await caller.request("GET", user_path("acme", user))
    assert response.status == 404
    response, _ = await caller.get("acme", user)
    assert response.status == 404
    # the extId can be registered again, without the old credential
    response, _ = await caller.request("POST", f"{BASE}/acme/users", json=body)
    assert response.status == 201
    response, _ = await caller.get("acme", user)
    assert response.status == 404


async def test_user_permissions(api, tokens):
    admin = Caller(api, tokens.admin())
    user = await admin.create_user("acme")
    viewer = Caller(api, tokens.with_permissions("AccessControl.UserView", clients=["acme"]))
    assert (await viewer.request("GET", user_path("acme", user)))[0].status == 200
    assert (await viewer.request("DELETE", user_path("acme", user)))[0].status == 403
    assert (await viewer.request("POST", f"{BASE}/acme/users", json={"extId": new_user_id()}))[
        0
    ].status == 403
    me = Caller(api, tokens.self_admin("acme", user))
    assert (await me.request("GET", user_path("acme", user)))[0].status == 200
    assert (await me.request("DELETE", user_path("acme", user)))[0].status == 403


async def test_user_in_unknown_client_is_404(api, tokens):
    caller = Caller(api, tokens.admin())
    response, body = await caller.request("POST", f"{BASE}/nowhere/users", json={"extId": "a"})
    assert response.status == 404 and body["errors"][0]["code"] == "errors.noRecord"


# -- create ------------------------------------------------------------------------------------


async def test_create_with_exposed_fragment(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    response, body = await caller.request(
        "POST", credential_path("acme", user), json={"extId": f"tsp-{user}"}
    )
    assert response.status == 201
    assert response.headers["Location"] == credential_path("acme", user)
    assert body["extId"] == f"tsp-{user}" and body["stateName"] == "initial"
    assert body["stateChangeReason"] == "initialized" and body["resetCount"] == 0
    assert len(body["tempStrongPassword"]) == 30


async def test_create_hidden_policy_answers_201_with_the_body_without_the_fragment(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    response, body = await caller.request(
        "POST", credential_path("acme", user), json={"policyExtId": "tsp-hidden-sms"}
    )
    assert response.status == 201
    assert response.headers["Location"] == credential_path("acme", user)
    assert body["userExtId"] == user and body["policyExtId"] == "tsp-hidden-sms"
    assert body["stateName"] == "initial" and body["version"] == 1
    assert "tempStrongPassword" not in body


async def test_second_create_is_409_already_exists(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    status, body = await caller.create_credential("acme", user)
    assert status == 409 and body["errors"][0]["code"] == "errors.alreadyExists"


async def test_concurrent_creates_make_one_credential(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    results = await asyncio.gather(*(caller.create_credential("acme", user) for _ in range(6)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 409}


async def test_credential_ext_id_is_unique_per_client(api, tokens):
    caller = Caller(api, tokens.admin())
    ext_id = f"tsp-{new_user_id()}"
    first = await caller.create_user("acme")
    second = await caller.create_user("acme")
    assert (await caller.create_credential("acme", first, extId=ext_id))[0] == 201
    status, body = await caller.create_credential("acme", second, extId=ext_id)
    assert status == 409 and body["errors"][0]["code"] == "errors.alreadyExists"


async def test_create_with_unknown_or_foreign_policy_is_422(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    for policy in ("no-such-policy", "pw-policy", "tsp-other-none"):
        status, body = await caller.create_credential("acme", user, policyExtId=policy)
        assert status == 422 and body["errors"][0]["code"] == "errors.policyNotAllowed"


async def test_create_with_state_needs_change_state_permission(api, tokens):
    admin = Caller(api, tokens.admin())
    user = await admin.create_user("acme")
    creator = Caller(api, tokens.with_permissions(CREATE, clients=["acme"]))
    status, _ = await creator.create_credential("acme", user, stateName="disabled")
    assert status == 403
    both = Caller(
        api,
        tokens.with_permissions(CREATE, "AccessControl.CredentialChangeState", clients=["acme"]),
    )
    status, body = await both.create_credential("acme", user, stateName="disabled")
    assert status == 201 and body["stateName"] == "disabled"


async def test_create_needs_a_delivery_address(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme", email=None)
    status, body = await caller.create_credential("acme", user)
    assert status == 422 and body["errors"][0]["code"] == "errors.missingDeliveryAddress"


async def test_idempotent_create(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user("acme")
    key = {"Idempotency-Key": "create-1"}
    first, body1 = await caller.request("POST", credential_path("acme", user), headers=key)
    second, body2 = await caller.request("POST", credential_path("acme", user), headers=key)
    assert first.status == second.status == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert body2["version"] == body1["version"] == 1 and "tempStrongPassword" not in body2


# -- get / patch / delete ------------------------------------------------------------------------


async def test_get_returns_the_hash_with_prefix(api, tokens):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential()
    response, body = await caller.get("acme", user)
    assert response.status == 200
    assert body["tempStrongPassword"].startswith("{SSHA256}")
    assert created["tempStrongPassword"] not in body["tempStrongPassword"]
    user2, _ = await caller.user_with_credential(policyExtId="tsp-hmac")
    _, body2 = await caller.get("acme", user2)
    assert body2["tempStrongPassword"].startswith("{HMAC-SHA256}")


async def test_get_as_self_admin_omits_actors(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    response, body = await Caller(api, tokens.self_admin("acme", user)).get("acme", user)
    assert response.status == 200 and "createdBy" not in body and "modifiedBy" not in body
    _, as_admin = await admin.get("acme", user)
    assert as_admin["createdBy"] == "helpdesk-1"


async def test_patch_state_policy_and_comment(api, tokens):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential()
    path = credential_path("acme", user)
    response, body = await caller.request(
        "PATCH",
        path,
        json={
            "version": 1,
            "stateName": "disabled",
            "policyExtId": "tsp-strict",
            "modificationComment": "helpdesk ticket 42",
        },
    )
    assert response.status == 200
    assert body["stateName"] == "disabled" and body["policyExtId"] == "tsp-strict"
    assert body["modificationComment"] == "helpdesk ticket 42" and body["version"] == 3
    assert "tempStrongPassword" not in body
    response, body = await caller.request("PATCH", path, json={"version": 1, "stateName": "active"})
    assert response.status == 409 and body["errors"][0]["code"] == "errors.conflict"
    response, body = await caller.request(
        "PATCH", path, json={"version": 3, "modificationComment": "c"}
    )
    assert response.status == 200 and body["stateName"] == "disabled" and body["version"] == 4
    _, events = await caller.request("GET", path + "/events")
    assert [i["type"] for i in events["items"]] == [
        "TempStrongPasswordCreated",
        "StateChanged",
        "PolicyChanged",
        "StateChanged",
    ]


async def test_patch_permissions_and_bad_bodies(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    path = credential_path("acme", user)
    modify_only = Caller(api, tokens.with_permissions(MODIFY))
    assert (await modify_only.request("PATCH", path, json={"version": 1}))[0].status == 403
    me = Caller(api, tokens.self_admin("acme", user))
    assert (await me.request("PATCH", path, json={"version": 1, "stateName": "active"}))[
        0
    ].status == 403
    for body in (
        {},
        {"version": "1"},
        {"version": 1, "stateName": "bogus"},
        {"version": 1},
        {"version": 1, "extra": True},
        {"version": -1, "stateName": "active"},
    ):
        response, payload = await admin.request("PATCH", path, json=body)
        assert response.status == 400, body
        assert payload["errors"][0]["code"] == "errors.validation"
    response, payload = await admin.request(
        "PATCH", path, json={"version": 1, "policyExtId": "nope"}
    )
    assert response.status == 422


async def test_delete_credential(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    me = Caller(api, tokens.self_admin("acme", user))
    response, _ = await me.request("DELETE", credential_path("acme", user))
    assert response.status == 204
    assert (await admin.get("acme", user))[0].status == 404
    assert (await admin.request("DELETE", credential_path("acme", user)))[0].status == 404
    # a new credential can be created after the delete
    status, _ = await admin.create_credential("acme", user)
    assert status == 201


async def test_delete_needs_permission(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    viewer = Caller(api, tokens.with_permissions(VIEW))
    assert (await viewer.request("DELETE", credential_path("acme", user)))[0].status == 403


# -- verify --------------------------------------------------------------------------------------


async def test_verify_with_fragment0_plus_fragment1(api, tokens, store):
    """The whole password verifies; fragment0 alone does not."""
    from service.domain.credential import TempStrongPassword
    from service.domain.user import User

    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential(policyExtId="tsp-none")
    password = created["tempStrongPassword"]
    response, body = await caller.verify("acme", user, password[:30])
    assert response.status == 401 and body["errors"][0]["code"] == "errors.invalidCredential"
    response, body = await caller.verify("acme", user, password)
    assert response.status == 200 and body == {"result": "ok"}
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "active" and stored["stateChangeReason"] == "activated"
    assert stored["successfulLoginCount"] == 1 and stored["failedLoginCount"] == 0
    assert "lastSuccessfulLoginDate" in stored and "lastFailedLoginDate" in stored
    assert isinstance(store.repository.get(User.create_id("acme", user)), User)
    assert TempStrongPassword.create_id("acme", stored["extId"])


async def test_verify_strict_locking_over_http(api, tokens, clock):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-strict")
    first, _ = await caller.verify("acme", user, "wrong")
    second, body = await caller.verify("acme", user, "wrong")
    assert first.status == second.status == 401  # also when the failure causes a lock
    response, body = await caller.verify("acme", user, "wrong")
    assert response.status == 423 and body["errors"][0]["code"] == "errors.credentialLocked"
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "tmp-locked" and stored["failedLoginCount"] == 2
    clock.advance(seconds=61)
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "initial"  # the lock ended by time alone
    response, _ = await caller.verify("acme", user, "wrong")
    assert response.status == 401
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "tmp-locked" and stored["failedLoginCount"] == 3


async def test_verify_threshold_mode_over_http(api, tokens, clock):
    caller = Caller(api, tokens.admin())
    user, _ = await caller.user_with_credential(policyExtId="tsp-threshold")
    await caller.verify("acme", user, "wrong")
    await caller.verify("acme", user, "wrong")
    clock.advance(seconds=61)
    await caller.verify("acme", user, "wrong")
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "initial" and stored["failedLoginCount"] == 3


async def test_fail_lock_after_max_failures(api, tokens, clock):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential(policyExtId="tsp-none")
    for _ in range(3):
        await caller.verify("acme", user, "wrong")
        clock.advance(seconds=61)
    _, stored = await caller.get("acme", user)
    assert stored["stateName"] == "fail-locked"
    assert stored["stateChangeReason"] == "too-many-login-failures"
    clock.advance(days=1)
    response, body = await caller.verify("acme", user, created["tempStrongPassword"])
    assert response.status == 423 and body["errors"][0]["code"] == "errors.credentialLocked"


async def test_verify_disabled_or_expired_is_not_usable(api, tokens, clock):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential(policyExtId="tsp-short-life")
    clock.advance(seconds=2)
    response, body = await caller.verify("acme", user, created["tempStrongPassword"])
    assert response.status == 423 and body["errors"][0]["code"] == "errors.credentialNotUsable"
    user2, _ = await caller.user_with_credential(stateName="disabled")
    response, body = await caller.verify("acme", user2, "anything")
    assert response.status == 423 and body["errors"][0]["code"] == "errors.credentialNotUsable"


async def test_verify_needs_permission_and_body(api, tokens):
    admin = Caller(api, tokens.admin())
    user, _ = await admin.user_with_credential()
    me = Caller(api, tokens.self_admin("acme", user))
    assert (await me.verify("acme", user, "x"))[0].status == 403
    for body in ({}, {"password": 5}, {"password": "x" * 2000}):
        response, _ = await admin.request(
            "POST", credential_path("acme", user) + "/verify", json=body
        )
        assert response.status == 400


# -- events --------------------------------------------------------------------------------------


async def test_events_are_the_audit_trail_without_secrets(api, tokens):
    caller = Caller(api, tokens.admin())
    user, created = await caller.user_with_credential()
    _, reset = await caller.reset("acme", user)
    await caller.verify("acme", user, "wrong")
    response, events = await caller.request("GET", credential_path("acme", user) + "/events")
    assert response.status == 200
    items = events["items"]
    assert [i["type"] for i in items] == [
        "TempStrongPasswordCreated",
        "TempStrongPasswordReset",
        "LoginFailed",
    ]
    assert [i["version"] for i in items] == [1, 2, 3]
    assert len({i["id"] for i in items}) == 3
    text = str(events)
    assert created["tempStrongPassword"] not in text and reset["tempStrongPassword"] not in text
    assert "SSHA256" not in text and "sealed" not in text
    assert items[1]["data"]["sendingMethod"] == "Email"
    viewer_other = Caller(api, tokens.with_permissions(VIEW, clients=["other"]))
    response, _ = await viewer_other.request("GET", credential_path("acme", user) + "/events")
    assert response.status == 403
    me = Caller(api, tokens.self_admin("acme", user))
    response, _ = await me.request("GET", credential_path("acme", user) + "/events")
    assert response.status == 403
