"""The OpenAPI 3.0 document of the HTTP API (SPEC section 3); a test checks every route is here."""

from __future__ import annotations

from typing import Any

from ..domain.states import CredentialState
from ..domain.validation import CLIENT_EXT_ID, EXT_ID
from .errors import STATUS_BY_CODE

BASE = "/nevisidm/api/core/v1"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Errors"))}


_DATE = {"type": "string", "format": "date-time"}
_PATH_PARAMS = {
    "clientExtId": {
        "name": "clientExtId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{CLIENT_EXT_ID.pattern}$"},
    },
    "userExtId": {
        "name": "userExtId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{EXT_ID.pattern}$"},
    },
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Replays the first successful outcome within 24 h (same caller, method, path).",
}

_COMMON_ERRORS = {
    "400": _error("Invalid input (errors.validation)"),
    "401": _error("Missing or invalid token (errors.unauthorized)"),
    "403": _error("Out of scope or missing permission (errors.forbidden)"),
    "404": _error("Unknown client, user or credential (errors.noRecord)"),
    "413": _error("Body over 64 KiB"),
    "415": _error("Body is not JSON (errors.unsupportedMediaType)"),
    "503": _error("Database unavailable (errors.unavailable)"),
}


def _operation(
    summary: str,
    permissions: str,
    responses: dict[str, Any],
    *,
    params: tuple[str, ...] = ("clientExtId", "userExtId"),
    body: str | None = None,
    extra_params: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Required permission(s): {permissions}",
        "security": [{"XToken": []}, {"Bearer": []}],
        "parameters": [_PATH_PARAMS[p] for p in params] + list(extra_params),
        "responses": {**_COMMON_ERRORS, **responses},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    return operation


def _string(pattern: str | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **extra}
    if pattern is not None:
        schema["pattern"] = f"^{pattern}$"
    return schema


def build_openapi() -> dict[str, Any]:
    credential_properties = {
        "created": _DATE,
        "lastModified": _DATE,
        "version": {"type": "integer", "format": "int32"},
        "extId": {"type": "string"},
        "userExtId": {"type": "string"},
        "policyExtId": {"type": "string"},
        "stateName": {"type": "string", "enum": [s.value for s in CredentialState]},
        "stateChangeReason": {"type": "string"},
        "stateChangeDetail": {"type": "string"},
        "lastSuccessfulLoginDate": _DATE,
        "successfulLoginCount": {"type": "integer", "format": "int32"},
        "lastFailedLoginDate": _DATE,
        "failedLoginCount": {"type": "integer", "format": "int32"},
        "modificationComment": {"type": "string"},
        "type": {"type": "string", "enum": ["Temporary Strong Password"]},
        "tempStrongPassword": {
            "type": "string",
            "description": "The hashed value with its algorithm prefix, or the plaintext "
            "fragment when returned by a create or reset operation.",
        },
        "resetCount": {"type": "integer", "format": "int32"},
        "createdBy": {"type": "string"},
        "modifiedBy": {"type": "string"},
    }
    schemas: dict[str, Any] = {
        "Errors": {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "enum": sorted(STATUS_BY_CODE)},
                            "message": {"type": "string"},
                        },
                    },
                }
            },
        },
        "TempStrongPassword": {
            "type": "object",
            "required": [
                "created",
                "lastModified",
                "version",
                "extId",
                "userExtId",
                "policyExtId",
                "stateName",
                "type",
                "resetCount",
            ],
            "properties": credential_properties,
        },
        "UserCreate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["extId"],
            "properties": {
                "extId": _string(EXT_ID.pattern),
                "loginId": _string(EXT_ID.pattern),
                "email": _string(r"[^@\s]{1,64}@[^@\s]{1,189}", maxLength=254),
                "mobile": _string(r"\+?[0-9][0-9 ()/-]{2,31}"),
                "language": _string(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?"),
            },
        },
        "User": {
            "type": "object",
            "required": ["extId", "created", "lastModified", "version"],
            "properties": {
                "extId": {"type": "string"},
                "loginId": {"type": "string"},
                "email": {"type": "string"},
                "mobile": {"type": "string"},
                "language": {"type": "string"},
                "created": _DATE,
                "lastModified": _DATE,
                "version": {"type": "integer"},
            },
        },
        "CredentialCreate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "extId": _string(EXT_ID.pattern),
                "policyExtId": _string(EXT_ID.pattern),
                "stateName": {"type": "string", "enum": [s.value for s in CredentialState]},
            },
        },
        "CredentialPatch": {
            "type": "object",
            "additionalProperties": False,
            "required": ["version"],
            "properties": {
                "version": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                "stateName": {"type": "string", "enum": [s.value for s in CredentialState]},
                "policyExtId": _string(EXT_ID.pattern),
                "modificationComment": {"type": "string", "maxLength": 1024},
            },
        },
        "Verify": {
            "type": "object",
            "additionalProperties": False,
            "required": ["password"],
            "properties": {"password": {"type": "string", "maxLength": 1024}},
        },
        "VerifyResult": {
            "type": "object",
            "required": ["result"],
            "properties": {"result": {"type": "string", "enum": ["ok"]}},
        },
        "CredentialPage": {
            "type": "object",
            "required": ["items", "_pagination"],
            "properties": {
                "items": {"type": "array", "items": _ref("TempStrongPassword")},
                "_pagination": {
                    "type": "object",
                    "required": ["limit"],
                    "properties": {
                        "continuationToken": {"type": "string"},
                        "limit": {"type": "integer"},
                    },
                },
            },
        },
        "EventList": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "type", "version", "time", "data"],
                        "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "type": {"type": "string"},
                            "version": {"type": "integer"},
                            "time": _DATE,
                            "data": {"type": "object"},
                        },
                    },
                }
            },
        },
    }
    credential = _json(_ref("TempStrongPassword"))
    conflict = {"409": _error("Conflict (errors.conflict, errors.alreadyExists)")}
    paths: dict[str, Any] = {
        f"{BASE}/{{clientExtId}}/users": {
            "post": _operation(
                "Create a user",
                "AccessControl.UserCreate",
                {"201": {"description": "Created", "content": _json(_ref("User"))}, **conflict},
                params=("clientExtId",),
                body="UserCreate",
            )
        },
        f"{BASE}/{{clientExtId}}/users/{{userExtId}}": {
            "get": _operation(
                "Get a user",
                "AccessControl.UserView or SelfAdmin",
                {"200": {"description": "The user", "content": _json(_ref("User"))}},
            ),
            "delete": _operation(
                "Delete a user and its TSP credential",
                "AccessControl.UserDelete",
                {"204": {"description": "Deleted"}, **conflict},
            ),
        },
        f"{BASE}/{{clientExtId}}/users/{{userExtId}}/tempstrong-password": {
            "post": _operation(
                "Create the temporary strong password",
                "AccessControl.CredentialCreate (+ AccessControl.CredentialChangeState "
                "with stateName)",
                {
                    "201": {
                        "description": "Created; the body (with the fragment) only if exposed",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": credential,
                    },
                    **conflict,
                    "422": _error("Business rule (errors.policyNotAllowed, ...)"),
                },
                body="CredentialCreate",
                extra_params=(_IDEMPOTENCY_KEY,),
            ),
            "get": _operation(
                "Get the temporary strong password (hashed)",
                "AccessControl.CredentialView or SelfAdmin",
                {"200": {"description": "The credential", "content": credential}},
            ),
            "patch": _operation(
                "Modify state, policy or comment (optimistic locking by version)",
                "AccessControl.CredentialModify, AccessControl.CredentialView",
                {
                    "200": {"description": "Modified", "content": credential},
                    **conflict,
                    "422": _error(
                        "Policy not allowed for the client (errors.policyNotAllowed) "
                        "or a locked state named (errors.stateNotAllowed)"
                    ),
                },
                body="CredentialPatch",
            ),
            "delete": _operation(
                "Delete the temporary strong password",
                "AccessControl.CredentialDelete or SelfAdmin",
                {"204": {"description": "Deleted"}, **conflict},
            ),
        },
        f"{BASE}/{{clientExtId}}/users/{{userExtId}}/tempstrong-password/reset": {
            "post": _operation(
                "Reset the temporary strong password",
                "AccessControl.CredentialView,AccessControl.CredentialModify or SelfAdmin Role",
                {
                    "200": {
                        "description": "Reset; tempStrongPassword holds the new fragment "
                        "(absent on an idempotent replay)",
                        "content": credential,
                    },
                    "204": {"description": "Reset; the policy does not expose the fragment"},
                    **conflict,
                    "422": _error("errors.maxResetCountReached and other business rules"),
                },
                extra_params=(_IDEMPOTENCY_KEY,),
            )
        },
        f"{BASE}/{{clientExtId}}/users/{{userExtId}}/tempstrong-password/verify": {
            "post": _operation(
                "Verify a password",
                "AccessControl.CredentialVerify",
                {
                    "200": {"description": "Valid", "content": _json(_ref("VerifyResult"))},
                    **conflict,
                    "423": _error("errors.credentialLocked or errors.credentialNotUsable"),
                },
                body="Verify",
            )
        },
        f"{BASE}/{{clientExtId}}/users/{{userExtId}}/tempstrong-password/events": {
            "get": _operation(
                "The credential's events, oldest first, without secrets",
                "AccessControl.CredentialView",
                {"200": {"description": "Events", "content": _json(_ref("EventList"))}},
            )
        },
        f"{BASE}/{{clientExtId}}/tempstrong-passwords": {
            "get": _operation(
                "List credentials from the read model, sorted by userExtId",
                "AccessControl.CredentialView",
                {"200": {"description": "A page", "content": _json(_ref("CredentialPage"))}},
                params=("clientExtId",),
                extra_params=(
                    {
                        "name": "stateName",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": [s.value for s in CredentialState]},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {
                        "name": "continuationToken",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ),
            )
        },
        "/healthz": {"get": _system("The process is alive")},
        "/readyz": {
            "get": {
                **_system("PostgreSQL is reachable"),
                "responses": {
                    "200": {"description": "Ready"},
                    "503": _error("Not ready (errors.unavailable)"),
                },
            }
        },
        "/metrics": {"get": _system("Prometheus metrics", "text/plain")},
        "/openapi.json": {"get": _system("This document")},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "tempstrong", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "XToken": {"type": "apiKey", "in": "header", "name": "X-Token"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }


def _system(summary: str, media_type: str = "application/json") -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [],
        "responses": {"200": {"description": "OK", "content": {media_type: {"schema": {}}}}},
    }
