"""The REST contract as callers see it (issue 12).

The served `/openapi.json` is valid OpenAPI (openapi-spec-validator), passes Redocly's lint with
the committed `redocly.yaml`, says what the code does (request bodies from parsing.py's field specs,
error codes from STATUS_BY_CODE, permissions as the security suite enforces them), and a client
generated from it with openapi-python-client drives every operation against the live API: the
parsed models and headers are checked, not only the statuses.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from service.http.app import create_app
from service.http.errors import STATUS_BY_CODE
from service.http.parsing import (
    CREATE_CREDENTIAL_FIELDS,
    PATCH_CREDENTIAL_FIELDS,
    USER_FIELDS,
    VERIFY_FIELDS,
)
from service.http.routes import ASYNCAPI_PATH
from service.observability.correlation import REQUEST_ID
from tests.security.routes import ROUTES
from tests.support.http import BASE, credential_path, new_user_id, user_path
from tests.support.node import tool_missing

ROOT = Path(__file__).resolve().parents[2]
REDOCLY = ROOT / "tools" / "node" / "node_modules" / ".bin" / "redocly"
REDOCLY_CONFIG = ROOT / "redocly.yaml"
PACKAGE = "tempstrong_client"
OPERATION_IDS = {
    "createUser",
    "getUser",
    "deleteUser",
    "createTempStrongPassword",
    "getTempStrongPassword",
    "modifyTempStrongPassword",
    "deleteTempStrongPassword",
    "resetTempStrongPassword",
    "verifyTempStrongPassword",
    "listTempStrongPasswordEvents",
    "listTempStrongPasswords",
    "getHealth",
    "getReadiness",
    "getMetrics",
    "getOpenApi",
    "getAsyncApi",
}
# models whose extra fields are part of their contract (an event's data, a whole document)
OPEN_MODELS = {"EventData", "JsonDocument"}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def _registered(api: Any) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in create_app(api.context).router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


@pytest.fixture(scope="module")
async def document(api: Any) -> dict[str, Any]:
    async with api.session.get(api.url("/openapi.json")) as response:
        assert response.status == 200 and response.content_type == "application/json"
        served: dict[str, Any] = await response.json()
    return served


# -- the document itself -----------------------------------------------------------------------


def test_openapi_spec_validator_accepts_the_served_document(document):
    from openapi_spec_validator import validate

    validate(document)
    assert document["openapi"].startswith("3.0.")


async def test_redocly_lint_passes(document, tmp_path):
    if shutil.which("node") is None:
        tool_missing("node is not on PATH")
    if not REDOCLY.exists():
        tool_missing(f"{REDOCLY.relative_to(ROOT)} is not installed")
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document, indent=1))
    # no telemetry, no look-up of a newer version: the lint runs offline
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    result = await asyncio.to_thread(
        subprocess.run,
        [str(REDOCLY), "lint", "--config", str(REDOCLY_CONFIG), "--format", "stylish", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_operation_has_its_operation_id_and_a_tag(document):
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert sorted(ids) == sorted(OPERATION_IDS)
    assert all(operation.get("tags") for _, _, operation in _operations(document))
    assert document["servers"][0]["url"] == "/"


def test_permissions_are_those_the_security_suite_enforces(document):
    """tests/security/routes.py is checked against the behaviour; the document against it."""
    for route in ROUTES:
        operation = document["paths"][route.canonical][route.method.lower()]
        needed = [p.value for p in route.permissions]
        if route.name == "create-credential-with-state":
            assert sorted(operation["x-required-permissions-with-stateName"]) == sorted(needed)
            continue
        assert sorted(operation["x-required-permissions"]) == sorted(needed), route.name
        assert operation["x-self-admin"] is route.self_admin, route.name
        text = operation["description"]
        assert ",".join(needed) in text and ("SelfAdmin" in text) is route.self_admin


def test_request_bodies_are_the_field_specs(document):
    schemas = document["components"]["schemas"]
    for name, fields in (
        ("UserCreate", USER_FIELDS),
        ("CredentialCreate", CREATE_CREDENTIAL_FIELDS),
        ("CredentialPatch", PATCH_CREDENTIAL_FIELDS),
        ("VerifyRequest", VERIFY_FIELDS),
    ):
        schema = schemas[name]
        assert schema["additionalProperties"] is False, name  # the server refuses others
        assert set(schema["properties"]) == set(fields), name
        assert set(schema.get("required", [])) == {f for f, s in fields.items() if s.required}
        for field, spec in fields.items():
            prop = _resolve(document, schema["properties"][field])
            if "allOf" in prop:
                prop = _resolve(document, prop["allOf"][0])
            if spec.kind is int:
                assert prop["type"] == "integer" and prop["maximum"] == 2**31 - 1
                continue
            assert prop["type"] == "string", (name, field)
            if spec.max_length is not None:
                assert prop["maxLength"] == spec.max_length, (name, field)
            if spec.pattern is not None:
                assert prop["pattern"] == f"^{spec.pattern.pattern}$", (name, field)
            if spec.choices is not None:
                assert set(prop["enum"]) == spec.choices, (name, field)  # requests: closed
    mobile = schemas["UserCreate"]["properties"]["mobile"]
    assert mobile["pattern"] == r"^\+[0-9]{7,15}$"
    assert schemas["UserCreate"]["properties"]["email"]["maxLength"] == 254


def test_error_codes_are_an_open_set_documented_per_status(document):
    seen: set[str] = set()
    for _, _, operation in _operations(document):
        for status, response in operation["responses"].items():
            for code in response.get("x-error-codes", []):
                assert STATUS_BY_CODE[code] == int(status), (operation["operationId"], code)
                assert f"`{code}`" in response["description"]
                seen.add(code)
    assert seen == set(STATUS_BY_CODE)
    code = document["components"]["schemas"]["Error"]["properties"]["code"]
    assert "enum" not in code and code["x-extensible-enum"] == list(STATUS_BY_CODE)


def test_response_enums_are_open(document):
    """No schema a response can carry closes a set: a new state or code breaks no client."""
    reachable: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in reachable:
                    reachable.add(name)
                    walk(document["components"]["schemas"][name])
            assert "enum" not in node or node.get("type") != "string", node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for _, _, operation in _operations(document):
        for response in operation["responses"].values():
            walk(response.get("content", {}))
    assert {"TempStrongPassword", "Errors", "Error", "Event"} <= reachable
    credential = document["components"]["schemas"]["TempStrongPassword"]["properties"]
    for name in ("stateName", "stateChangeReason", "type"):
        assert credential[name]["x-extensible-enum"], name


def test_verify_documents_the_wrong_password_apart_from_the_token(document):
    verify = document["paths"][
        f"{BASE}/{{clientExtId}}/users/{{userExtId}}/tempstrong-password/verify"
    ]
    unauthorized = verify["post"]["responses"]["401"]
    assert unauthorized["x-error-codes"][0] == "errors.invalidCredential"
    assert "errors.unauthorized" in unauthorized["x-error-codes"]
    assert "do NOT refresh the token and retry" in unauthorized["description"]
    examples = unauthorized["content"]["application/json"]["examples"]
    assert {e["value"]["errors"][0]["code"] for e in examples.values()} == {
        "errors.invalidCredential",
        "errors.unauthorized",
    }


def test_the_reset_carries_the_seed_page(document):
    reset = document["paths"][
        f"{BASE}/{{clientExtId}}/users/{{userExtId}}/tempstrong-password/reset"
    ]
    operation = reset["post"]
    assert operation["summary"] == "Reset the temporary strong password"
    assert operation["operationId"] == "resetTempStrongPassword"
    assert (  # the seed page's description
        "Resets the temporary strong password for the specified user, generating a new "
        "server-side password and resetting the credential state to initial."
        in operation["description"]
    )
    assert "If the policy does not expose the fragment, 204 No Content" in operation["description"]
    assert (
        "Required permission(s): AccessControl.CredentialView,AccessControl.CredentialModify "
        "or SelfAdmin Role" in operation["description"]
    )
    parameters = {p["name"]: p for p in (_resolve(document, p) for p in operation["parameters"])}
    assert parameters["clientExtId"]["description"] == "External ID of the client."
    assert parameters["clientExtId"]["example"] == "client-123"
    assert parameters["userExtId"]["description"] == "External ID of the user."
    assert parameters["userExtId"]["example"] == "user-123"
    assert set(operation["responses"]) >= {"200", "204", "413", "415", "422", "500", "503"}


def test_every_response_documents_its_headers(document):
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            headers = response["headers"]
            assert "X-Request-Id" in headers, (path, status)
            if status == "405":
                assert "Allow" in headers
            if "errors.unauthorized" in response.get("x-error-codes", []):
                assert "WWW-Authenticate" in headers
        if method == "post" and path.endswith(("/users", "/tempstrong-password")):
            assert "Location" in operation["responses"]["201"]["headers"], path
        if operation["operationId"] in ("createTempStrongPassword", "resetTempStrongPassword"):
            for status in ("201", "200", "204"):
                if status in operation["responses"]:
                    assert "Idempotent-Replayed" in operation["responses"][status]["headers"]


# -- a generated client drives every operation ----------------------------------------------------


@pytest.fixture(scope="module")
async def generated(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ModuleType]:
    """`openapi-python-client generate` on the served document, imported."""
    out = tmp_path_factory.mktemp("generated-client")
    (out / "openapi.json").write_text(json.dumps(document))
    (out / "config.yaml").write_text("post_hooks: []\n")  # no formatting of the output needed
    command = [
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(out / "openapi.json"),
        "--output-path",
        str(out / PACKAGE),
        "--meta",
        "none",
        "--config",
        str(out / "config.yaml"),
        "--fail-on-warning",  # a construct the generator skips is a failure of the document
    ]
    result = await asyncio.to_thread(
        subprocess.run, command, cwd=out, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Driver:
    """Calls operations by operationId through the generated client and checks each answer
    against the document: status, X-Request-Id, error codes, undocumented fields."""

    def __init__(self, package: ModuleType, document: dict[str, Any]) -> None:
        self.package = package
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.types = importlib.import_module(f"{PACKAGE}.types")
        self.operations = {op["operationId"]: op for _, _, op in _operations(document)}
        self.driven: set[str] = set()

    async def call(self, operation_id: str, **kwargs: Any) -> Any:
        operation = self.operations[operation_id]
        module = importlib.import_module(
            f"{PACKAGE}.api.{_snake(operation['tags'][0])}.{_snake(operation_id)}"
        )
        response = await module.asyncio_detailed(**kwargs)
        status = str(int(response.status_code))
        assert status in operation["responses"], (operation_id, status, response.content)
        documented = operation["responses"][status]
        assert REQUEST_ID.fullmatch(response.headers["X-Request-Id"]), operation_id
        if int(status) >= 400:
            assert isinstance(response.parsed, self.models.Errors), (operation_id, status)
            code = response.parsed.errors[0].code
            assert code in documented["x-error-codes"], (operation_id, status, code)
            assert ("WWW-Authenticate" in response.headers) is (code == "errors.unauthorized")
        elif "content" not in documented:
            assert response.parsed is None and response.content == b"", operation_id
        self._assert_documented_fields(response.parsed, operation_id)
        self.driven.add(operation_id)
        return response

    def _assert_documented_fields(self, value: Any, operation_id: str) -> None:
        """Whatever the server sent has a place in the model: no field outside the document."""
        if isinstance(value, list):
            for item in value:
                self._assert_documented_fields(item, operation_id)
            return
        if not hasattr(value, "additional_properties") or type(value).__name__ in OPEN_MODELS:
            return
        assert value.additional_properties == {}, (operation_id, type(value).__name__)
        for attribute in type(value).__attrs_attrs__:
            self._assert_documented_fields(getattr(value, attribute.name), operation_id)


async def test_a_generated_client_drives_every_operation(
    api, tokens, projector, document, generated
):
    driver = Driver(generated, document)
    registered = _registered(api)
    m, unset = driver.models, driver.types.UNSET
    user, hidden, whole = new_user_id(), new_user_id(), new_user_id()
    expired = tokens.admin(exp=int(time.time()) - 60)
    other_client = tokens.with_permissions("AccessControl.UserView", clients=["other"])
    options = {"base_url": api.base, "raise_on_unexpected_status": True}
    async with (
        generated.AuthenticatedClient(token=tokens.admin(), **options) as bearer,
        generated.AuthenticatedClient(
            token=tokens.admin(), prefix="", auth_header_name="X-Token", **options
        ) as x_token,
        generated.AuthenticatedClient(token=expired, **options) as stale,
        generated.AuthenticatedClient(token=other_client, **options) as outsider,
        generated.Client(**options) as anonymous,
    ):
        # -- users ---------------------------------------------------------------------------
        created = await driver.call(
            "createUser",
            client_ext_id="acme",
            client=x_token,
            body=m.UserCreate(
                ext_id=user,
                login_id=user,
                email=f"{user}@example.com",
                mobile="+41790000000",
                language="de-CH",
            ),
        )
        assert created.status_code == 201 and isinstance(created.parsed, m.User)
        assert created.headers["Location"] == user_path("acme", user)
        assert (created.parsed.ext_id, created.parsed.language) == (user, "de-CH")
        assert created.parsed.version == 1 and created.parsed.created.tzinfo is not None
        for extra, profile in ((hidden, {"mobile": "+41790000001"}), (whole, {})):
            response = await driver.call(
                "createUser",
                client_ext_id="acme",
                client=bearer,
                body=m.UserCreate(ext_id=extra, **profile),
            )
            assert response.status_code == 201
        again = await driver.call(
            "createUser", client_ext_id="acme", client=bearer, body=m.UserCreate(ext_id=user)
        )
        assert again.status_code == 409 and again.parsed.errors[0].code == "errors.alreadyExists"
        fetched = await driver.call(
            "getUser", client_ext_id="acme", user_ext_id=user, client=bearer
        )
        assert fetched.status_code == 200
        assert fetched.parsed.to_dict() == created.parsed.to_dict()
        refused = await driver.call(
            "getUser", client_ext_id="acme", user_ext_id=user, client=anonymous
        )
        assert refused.status_code == 401 and refused.parsed.errors[0].code == "errors.unauthorized"
        refused = await driver.call(
            "getUser", client_ext_id="acme", user_ext_id=user, client=outsider
        )
        assert refused.status_code == 403 and refused.parsed.errors[0].code == "errors.forbidden"

        # -- create: the exposing policy and the hiding one both answer a parsed 201 ---------
        exposed = await driver.call(
            "createTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=user,
            client=bearer,
            body=m.CredentialCreate(
                ext_id=f"tsp-{user}",
                policy_ext_id="tsp-default",
                state_name=m.CredentialStateName.INITIAL,
            ),
        )
        assert exposed.status_code == 201 and isinstance(exposed.parsed, m.TempStrongPassword)
        assert exposed.headers["Location"] == credential_path("acme", user)
        credential = exposed.parsed
        assert (credential.ext_id, credential.user_ext_id) == (f"tsp-{user}", user)
        assert (credential.state_name, credential.state_change_reason) == ("initial", "initialized")
        assert credential.type_ == "Temporary Strong Password" and credential.reset_count == 0
        assert len(credential.temp_strong_password) == 30 and credential.version == 1
        for attempt in ("first", "replay"):
            response = await driver.call(
                "createTempStrongPassword",
                client_ext_id="acme",
                user_ext_id=hidden,
                client=bearer,
                body=m.CredentialCreate(policy_ext_id="tsp-hidden-sms"),
                idempotency_key=f"create-{hidden}",
            )
            assert response.status_code == 201 and isinstance(response.parsed, m.TempStrongPassword)
            assert response.parsed.policy_ext_id == "tsp-hidden-sms"
            assert response.parsed.temp_strong_password is unset and response.parsed.version == 1
            assert response.headers.get("Idempotent-Replayed") == (
                "true" if attempt == "replay" else None
            )
        refused = await driver.call(
            "createTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=whole,
            client=bearer,
            body=m.CredentialCreate(policy_ext_id="pw-policy"),
        )
        assert refused.status_code == 422
        assert refused.parsed.errors[0].code == "errors.policyNotAllowed"
        whole_created = await driver.call(
            "createTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=whole,
            client=bearer,
            body=m.CredentialCreate(policy_ext_id="tsp-none"),
        )
        password = whole_created.parsed.temp_strong_password
        assert len(password) == 38  # sendingMethod None: the whole password

        # -- get, patch ----------------------------------------------------------------------
        stored = await driver.call(
            "getTempStrongPassword", client_ext_id="acme", user_ext_id=user, client=x_token
        )
        assert stored.status_code == 200 and stored.parsed.temp_strong_password.startswith(
            "{SSHA256}"
        )
        assert isinstance(stored.parsed.created, datetime)
        patched = await driver.call(
            "modifyTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=user,
            client=bearer,
            body=m.CredentialPatch(version=1, modification_comment="via a generated client"),
        )
        assert patched.status_code == 200 and patched.parsed.version == 2
        assert patched.parsed.modification_comment == "via a generated client"
        assert patched.parsed.temp_strong_password is unset
        stale_version = await driver.call(
            "modifyTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=user,
            client=bearer,
            body=m.CredentialPatch(version=1, state_name=m.CredentialStateName.DISABLED),
        )
        assert stale_version.status_code == 409
        assert stale_version.parsed.errors[0].code == "errors.conflict"
        locking = await driver.call(
            "modifyTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=user,
            client=bearer,
            body=m.CredentialPatch(version=2, state_name=m.CredentialStateName.FAIL_LOCKED),
        )
        assert locking.status_code == 422
        assert locking.parsed.errors[0].code == "errors.stateNotAllowed"

        # -- reset: 200 with the fragment, a replay, 204 under the hiding policy ---------------
        reset = await driver.call(
            "resetTempStrongPassword", client_ext_id="acme", user_ext_id=user, client=bearer
        )
        assert reset.status_code == 200 and isinstance(reset.parsed, m.TempStrongPassword)
        assert len(reset.parsed.temp_strong_password) == 30 and reset.parsed.reset_count == 1
        assert reset.parsed.state_change_reason == "reset" and reset.parsed.version == 3
        assert "Idempotent-Replayed" not in reset.headers
        first = await driver.call(
            "resetTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=user,
            client=bearer,
            idempotency_key=f"reset-{user}",
        )
        replay = await driver.call(
            "resetTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=user,
            client=bearer,
            idempotency_key=f"reset-{user}",
        )
        assert first.status_code == replay.status_code == 200
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.parsed.version == first.parsed.version == 4
        assert len(first.parsed.temp_strong_password) == 30
        assert replay.parsed.temp_strong_password is unset
        silent = await driver.call(
            "resetTempStrongPassword", client_ext_id="acme", user_ext_id=hidden, client=x_token
        )
        assert silent.status_code == 204 and silent.parsed is None

        # -- verify: the wrong password (counted) apart from the bad token, then the right one
        wrong = await driver.call(
            "verifyTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=whole,
            client=bearer,
            body=m.VerifyRequest(password="not-" + password),
        )
        assert wrong.status_code == 401
        assert wrong.parsed.errors[0].code == "errors.invalidCredential"
        assert "WWW-Authenticate" not in wrong.headers
        token_refused = await driver.call(
            "verifyTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=whole,
            client=stale,
            body=m.VerifyRequest(password=password),
        )
        assert token_refused.status_code == 401
        assert token_refused.parsed.errors[0].code == "errors.unauthorized"
        assert token_refused.headers["WWW-Authenticate"].startswith("Bearer")
        right = await driver.call(
            "verifyTempStrongPassword",
            client_ext_id="acme",
            user_ext_id=whole,
            client=bearer,
            body=m.VerifyRequest(password=password),
        )
        assert right.status_code == 200 and right.parsed.result == "ok"
        after = await driver.call(
            "getTempStrongPassword", client_ext_id="acme", user_ext_id=whole, client=bearer
        )
        assert (after.parsed.state_name, after.parsed.state_change_reason) == (
            "active",
            "activated",
        )
        assert after.parsed.successful_login_count == 1 and after.parsed.failed_login_count == 0
        assert isinstance(after.parsed.last_failed_login_date, datetime)

        # -- events, list --------------------------------------------------------------------
        events = await driver.call(
            "listTempStrongPasswordEvents", client_ext_id="acme", user_ext_id=user, client=bearer
        )
        assert events.status_code == 200
        assert [e.type_ for e in events.parsed.items] == [
            "TempStrongPasswordCreated",
            "StateChanged",
            "TempStrongPasswordReset",
            "TempStrongPasswordReset",
        ]
        assert [e.version for e in events.parsed.items] == [1, 2, 3, 4]
        assert all(isinstance(e.time, datetime) for e in events.parsed.items)
        data = events.parsed.items[1].data.to_dict()
        assert data["modificationComment"] == "via a generated client"
        assert not {"passwordHash", "delivery"} & {
            key for e in events.parsed.items for key in e.data.to_dict()
        }
        await projector.caught_up()
        listed: dict[str, Any] = {}
        continuation: Any = unset
        for _ in range(100):
            page = await driver.call(
                "listTempStrongPasswords",
                client_ext_id="acme",
                client=bearer,
                limit=1000,
                continuation_token=continuation,
            )
            assert page.status_code == 200 and page.parsed.field_pagination.limit == 1000
            listed.update({item.user_ext_id: item for item in page.parsed.items})
            continuation = page.parsed.field_pagination.continuation_token
            if continuation is unset:
                break
        assert {user, hidden, whole} <= set(listed)
        assert listed[user].version == 4 and listed[user].temp_strong_password is unset
        active = await driver.call(
            "listTempStrongPasswords",
            client_ext_id="acme",
            client=bearer,
            state_name=m.CredentialStateName.ACTIVE,
            limit=1000,
        )
        assert all(item.state_name == "active" for item in active.parsed.items)
        unknown = await driver.call(
            "listTempStrongPasswords", client_ext_id="nowhere", client=bearer
        )
        assert unknown.status_code == 404 and unknown.parsed.errors[0].code == "errors.noRecord"

        # -- delete --------------------------------------------------------------------------
        deleted = await driver.call(
            "deleteTempStrongPassword", client_ext_id="acme", user_ext_id=user, client=bearer
        )
        assert deleted.status_code == 204 and deleted.parsed is None
        gone = await driver.call(
            "getTempStrongPassword", client_ext_id="acme", user_ext_id=user, client=bearer
        )
        assert gone.status_code == 404 and gone.parsed.errors[0].code == "errors.noRecord"
        for someone in (user, hidden, whole):
            deleted = await driver.call(
                "deleteUser", client_ext_id="acme", user_ext_id=someone, client=x_token
            )
            assert deleted.status_code == 204
        gone = await driver.call("getUser", client_ext_id="acme", user_ext_id=user, client=bearer)
        assert gone.status_code == 404

        # -- system endpoints, no token ------------------------------------------------------
        health = await driver.call("getHealth", client=anonymous)
        assert isinstance(health.parsed, m.Health) and health.parsed.status == "ok"
        ready = await driver.call("getReadiness", client=anonymous)
        assert isinstance(ready.parsed, m.Readiness) and ready.parsed.status == "ready"
        metrics = await driver.call("getMetrics", client=anonymous)
        assert (
            isinstance(metrics.parsed, str) and "tempstrong_http_requests_total" in metrics.parsed
        )
        served = await driver.call("getOpenApi", client=anonymous)
        assert served.parsed.to_dict() == document
        if ("get", ASYNCAPI_PATH) in registered:  # the route comes with another branch
            contract = await driver.call("getAsyncApi", client=anonymous)
            assert contract.parsed.to_dict()["asyncapi"].startswith("3.")

    served_ids = {
        operation["operationId"]
        for method, path, operation in _operations(document)
        if (method, path) in registered
    }
    assert driver.driven == served_ids, served_ids - driver.driven
