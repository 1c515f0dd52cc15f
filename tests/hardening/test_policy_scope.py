"""Issue 11, finding 4: a helpdesk token cannot learn the whole password through a policy.

View + Modify (the reset permissions) could PATCH a credential to any policy of the file,
including another client's `sendingMethod: None` policy, then reset: the response carried the
whole password. Policies are now scoped per client.
"""

from __future__ import annotations

from tests.support.http import Caller, credential_path


async def test_patch_to_another_clients_policy_is_refused_and_changes_nothing(api, tokens):
    helpdesk = Caller(
        api,
        tokens.with_permissions(
            "AccessControl.CredentialView", "AccessControl.CredentialModify", clients=["acme"]
        ),
    )
    admin = Caller(api, tokens.admin())
    user, created = await admin.user_with_credential("acme")
    path = credential_path("acme", user)
    for policy in ("tsp-other-none", "no-such-policy", "pw-policy"):
        response, body = await helpdesk.request(
            "PATCH", path, json={"version": created["version"], "policyExtId": policy}
        )
        assert response.status == 422, body
        assert body["errors"][0]["code"] == "errors.policyNotAllowed"
    response, body = await helpdesk.reset("acme", user)
    assert response.status == 200 and body["policyExtId"] == "tsp-default"
    assert len(body["tempStrongPassword"]) == 30  # fragment0 only, never the whole password


async def test_a_client_may_use_the_policies_it_lists(api, tokens):
    admin = Caller(api, tokens.admin())
    user = await admin.create_user("other")
    status, body = await admin.create_credential("other", user, policyExtId="tsp-other-none")
    assert status == 201 and len(body["tempStrongPassword"]) == 38
    other = await admin.create_user("other")
    status, body = await admin.create_credential("other", other, policyExtId="tsp-none")
    assert status == 422 and body["errors"][0]["code"] == "errors.policyNotAllowed"
