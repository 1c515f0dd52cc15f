"""The OpenAPI 3.0 document of the HTTP API, built from the code that answers.

Where its facts come from (so it cannot drift from them):
- paths and what each operation says: routes.py, the table app.py registers routes from;
- permissions: requirements.py's `Access` constants, the very objects the handlers enforce;
- request bodies: parsing.py's `Field` specs (type, required, length, pattern, choices, text);
  the address checks of domain/addresses.py are described by `_CHECKS` (E.164 pattern, lengths);
- query and header parameters: parsing.py's page limits, state names and Idempotency-Key grammar,
  correlation.py's X-Request-Id grammar;
- errors: the codes of the domain errors each operation can raise, mapped to statuses by
  STATUS_BY_CODE (errors.py), documented as an open set (a new code must not break a client);
- response enums, open too: CredentialState, StateChangeReason, CREDENTIAL_TYPE, the event types.

`python -m service.http.openapi` prints it (what `GET /openapi.json` serves).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..contracts.cloudevents import EVENT_TYPES
from ..domain.addresses import (
    EMAIL,
    EMAIL_MAX_LENGTH,
    LANGUAGE_MAX_LENGTH,
    MOBILE,
    is_valid_email,
    is_valid_language,
    is_valid_mobile,
)
from ..domain.credential import CREDENTIAL_TYPE
from ..domain.states import CredentialState, StateChangeReason
from ..domain.validation import CLIENT_EXT_ID, EXT_ID
from ..observability.correlation import REQUEST_ID
from . import handlers as h
from .errors import STATUS_BY_CODE
from .middlewares import REQUEST_ID_HEADER
from .operation import JSON, Operation, Success
from .parsing import (
    CREATE_CREDENTIAL_FIELDS,
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_HEADER,
    INT_MAX,
    MAX_BODY_BYTES,
    PATCH_CREDENTIAL_FIELDS,
    STATE_NAMES,
    USER_FIELDS,
    VERIFY_FIELDS,
    Field,
)
from .requirements import Access
from .routes import ROUTES, Route

# What a client can use for the fields that parsing.py checks with a function of
# domain/addresses.py. Each pattern is implied by the check (the server may refuse more).
_CHECKS: dict[Callable[[str], bool], dict[str, Any]] = {
    is_valid_email: {
        "maxLength": EMAIL_MAX_LENGTH,
        "pattern": f"^{EMAIL.pattern}$",
        "example": "user@example.com",
        "x-server-check": "A bare RFC 5321 mailbox in ASCII, by syntax only: this pattern and "
        "maxLength are the whole rule. A dot-atom local part of at most 64 characters (RFC 5322 "
        "atext, dots only between atoms, no quotes, no RFC 2047 encoded-word), `@`, and a domain "
        "of LDH labels (letters, digits, inner hyphens; at most 63 characters each; the last not "
        "all digits; no trailing dot). Special-use and single-label domains are accepted "
        "(`x@example.test`, `x@corp.local`, `x@host.internal`, `x@localhost`): whether a domain "
        "is reachable is the mail relay's business. No display name, comment, IP literal, space, "
        "comma, angle bracket, CR, LF or NUL.",
    },
    is_valid_mobile: {
        "pattern": f"^{MOBILE.pattern}$",
        "example": "+41790000000",
        "x-server-check": "E.164: `+` and 7 to 15 digits, no spaces.",
    },
    is_valid_language: {
        "maxLength": LANGUAGE_MAX_LENGTH,
        "pattern": "^[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*$",
        "example": "de-CH",
        "x-server-check": "A well-formed BCP 47 tag (the RFC 5646 grammar).",
    },
}

# One line per error code: what it means to a caller. Every code of STATUS_BY_CODE has one.
_MEANINGS: dict[str, str] = {
    "errors.validation": "a path parameter, query parameter, header or body field is not valid, "
    "or the body has a key twice, at any depth (the message says which)",
    "errors.unauthorized": "the token is missing, expired or not valid (`WWW-Authenticate` is "
    "set): get a new token, then retry",
    "errors.invalidCredential": "the password is wrong. The attempt was counted (it may have "
    "locked the credential): do NOT refresh the token and retry, that burns the user's attempts "
    "into a lock",
    "errors.forbidden": "the token does not permit this operation on this client or user",
    "errors.noRecord": "no such client, user or credential",
    "errors.methodNotAllowed": "the path does not answer this method (`Allow` lists those it does)",
    "errors.conflict": "a concurrent change won, a stale `version`, or the same Idempotency-Key "
    "is still in flight: read again, then retry",
    "errors.alreadyExists": "it exists already (a user's second credential, a credential extId "
    "used in this client, a user extId)",
    "errors.payloadTooLarge": f"the body is over {MAX_BODY_BYTES // 1024} KiB",
    "errors.unsupportedMediaType": "the body is not JSON",
    "errors.idempotencyKeyReused": "this Idempotency-Key was used (by this token subject, on "
    "this method and path, within 24 h) with another body: nothing was done. Send this body "
    "with a new key, or the first body again to get its outcome",
    "errors.maxResetCountReached": "the credential was reset `maxResetCount` times",
    "errors.credentialArchived": "an archived credential cannot be reset",
    "errors.policyNotAllowed": "the policy is not one of the client's policies",
    "errors.stateNotAllowed": "a request may not set a locked state (only failed logins lock)",
    "errors.missingDeliveryAddress": "the policy sends by Email or SMS but the user has no email "
    "or mobile",
    "errors.deliveryNotConfigured": "the service has no delivery key configured",
    "errors.credentialLocked": "the credential is locked (tmp-locked or fail-locked); the "
    "password was not checked and nothing was counted",
    "errors.credentialNotUsable": "the credential's state or validity does not allow a login; "
    "the password was not checked and nothing was counted",
    "errors.internal": "never expected: a bug (no details are given)",
    "errors.unavailable": "a dependency (PostgreSQL) is unavailable or the request outlived its "
    "deadline: retry later",
}
_EXAMPLE_MESSAGES: dict[str, str] = {
    "errors.validation": "Field email has an invalid format.",
    "errors.unauthorized": "The token has expired.",
    "errors.invalidCredential": "The password is not valid.",
    "errors.forbidden": "The token does not permit this operation on this resource.",
    "errors.noRecord": "User 'user-123' has no TSP credential.",
    "errors.methodNotAllowed": "Method not allowed.",
    "errors.conflict": "The credential was modified concurrently (version 3, request names 2).",
    "errors.alreadyExists": "User 'user-123' already has a TSP credential.",
    "errors.payloadTooLarge": "The body exceeds 64 KiB.",
    "errors.unsupportedMediaType": "The body must be JSON.",
    "errors.idempotencyKeyReused": "This Idempotency-Key was used with another request body; "
    "use a new key.",
    "errors.maxResetCountReached": "The credential was reset 5 times, the policy's maximum.",
    "errors.credentialArchived": "An archived credential cannot be reset.",
    "errors.policyNotAllowed": "Policy 'tsp-other' is not allowed for client 'client-123'.",
    "errors.stateNotAllowed": "A PATCH cannot set fail-locked: only failed logins lock.",
    "errors.missingDeliveryAddress": "The policy sends by Email but the user has no email.",
    "errors.deliveryNotConfigured": "No delivery public key is configured.",
    "errors.credentialLocked": "The credential is locked.",
    "errors.credentialNotUsable": "The credential is not usable.",
    "errors.internal": "Internal error.",
    "errors.unavailable": "The service is temporarily unavailable.",
}

# Errors every API operation can answer: its path, the token, the route, the server itself.
_API_ERRORS = (
    "errors.validation",
    "errors.unauthorized",
    "errors.forbidden",
    "errors.noRecord",
    "errors.methodNotAllowed",
    "errors.internal",
    "errors.unavailable",
)
_SYSTEM_ERRORS = ("errors.methodNotAllowed", "errors.internal")
_BODY_ERRORS = ("errors.validation", "errors.payloadTooLarge", "errors.unsupportedMediaType")


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> dict[str, str]:
    return _ref("schemas", name)


def _open_enum(values: Iterable[str], description: str, example: str) -> dict[str, Any]:
    """A string with known values that a client must not treat as closed."""
    known = list(values)
    listed = ", ".join(f"`{v}`" for v in known)
    return {
        "type": "string",
        "description": f"{description} Known values: {listed}. The set is open: handle others.",
        "x-extensible-enum": known,
        "example": example,
    }


def _required_permissions(access: Access, also: str = "") -> str:
    """As the seed page writes them: `A,B or SelfAdmin Role`."""
    text = ",".join(p.value for p in access.permissions) + also
    return text + (" or SelfAdmin Role" if access.self_admin else "")


# -- request bodies from parsing.py's Field specs ----------------------------------------------

_CHOICES = {STATE_NAMES: "CredentialStateName"}


def _field_schema(name: str, spec: Field) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.kind is int:
        schema = {"type": "integer", "format": "int32", "minimum": 0, "maximum": INT_MAX}
    elif spec.choices is not None:
        component = _CHOICES.get(spec.choices)
        if component is None:
            raise ValueError(f"field {name}: its choices need a component in _CHOICES")
        schema = {"allOf": [_schema(component)]}
    else:
        schema = {"type": "string"}
        if spec.pattern is not None:
            schema["pattern"] = f"^{spec.pattern.pattern}$"
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
    if spec.check is not None:
        if spec.check not in _CHECKS:
            raise ValueError(f"field {name}: its check needs a description in _CHECKS")
        check = dict(_CHECKS[spec.check])
        server_check = check.pop("x-server-check")
        schema.update(check)
        described = spec.description or ""
        schema["description"] = f"{described} The server checks: {server_check}".strip()
    elif spec.description:
        schema["description"] = spec.description
    return schema


def _body_schema(fields: dict[str, Field], example: dict[str, Any]) -> dict[str, Any]:
    """Unknown fields are refused (400), hence `additionalProperties: false`; null is absent."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: _field_schema(name, spec) for name, spec in fields.items()},
        "example": example,
    }
    required = [name for name, spec in fields.items() if spec.required]
    if required:
        schema["required"] = required
    return schema


# -- responses ---------------------------------------------------------------------------------


def _headers(*names: str) -> dict[str, Any]:
    return {name: _ref("headers", name) for name in (REQUEST_ID_HEADER, *names)}


def _success(success: Success, examples: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": success.description,
        "headers": _headers(*success.headers),
    }
    if success.schema is not None:
        content: dict[str, Any] = {"schema": _schema(success.schema)}
        if success.examples:
            content["examples"] = {
                name: {"summary": summary, "value": examples[example]}
                for name, (summary, example) in success.examples.items()
            }
        response["content"] = {success.media_type: content}
    return response


def _error_responses(
    codes: Iterable[str], meanings: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """One response per status; its codes listed (open set), each with an example."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        by_status.setdefault(STATUS_BY_CODE[code], []).append(code)
    responses: dict[str, dict[str, Any]] = {}
    for status, status_codes in sorted(by_status.items()):
        said = {**_MEANINGS, **(meanings or {})}
        lines = [f"- `{code}`: {said[code]}." for code in status_codes]
        if len(status_codes) > 1:
            lines.append("\nTell them apart by `errors[0].code`.")
        headers: tuple[str, ...] = ()
        if "errors.unauthorized" in status_codes:
            headers = ("WWW-Authenticate",)
        elif status == 405:
            headers = ("Allow",)
        examples = {
            code.removeprefix("errors."): {
                "summary": code,
                "description": said[code][0].upper() + said[code][1:] + ".",
                "value": {"errors": [{"code": code, "message": _EXAMPLE_MESSAGES[code]}]},
            }
            for code in status_codes
        }
        responses[str(status)] = {
            "description": f"{HTTPStatus(status).phrase}. Error codes:\n" + "\n".join(lines),
            "headers": _headers(*headers),
            "content": {JSON: {"schema": _schema("Errors"), "examples": examples}},
            "x-error-codes": status_codes,
        }
    return responses


# -- operations --------------------------------------------------------------------------------


def _operation_document(route: Route, examples: dict[str, Any]) -> dict[str, Any]:
    operation = route.operation
    path_params = [
        _ref("parameters", name)
        for name in ("clientExtId", "userExtId")
        if "{" + name + "}" in route.path
    ]
    parameters = [_ref("parameters", p) if isinstance(p, str) else p for p in operation.parameters]
    common = _SYSTEM_ERRORS if operation.access is None else _API_ERRORS
    errors = (*operation.errors, *common)  # its own first: verify's 401 is about the password
    if operation.body is not None or operation.reads_body:
        errors = (*errors, *_BODY_ERRORS)
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "description": _description(operation),
    }
    if path_params or parameters:
        document["parameters"] = [*path_params, *parameters]
    if operation.body is not None:
        document["requestBody"] = {
            "required": operation.body_required,
            "content": {JSON: {"schema": _schema(operation.body)}},
        }
    responses = {
        status: _success(success, examples) for status, success in operation.responses.items()
    }
    responses.update(_error_responses(errors, operation.meanings))
    document["responses"] = dict(sorted(responses.items()))
    if operation.access is None:
        document["security"] = []
    else:
        document["x-required-permissions"] = [p.value for p in operation.access.permissions]
        document["x-self-admin"] = operation.access.self_admin
    if operation.access_with is not None:
        named, access = operation.access_with
        document[f"x-required-permissions-with-{named}"] = [p.value for p in access.permissions]
    return document


def _description(operation: Operation) -> str:
    """The seed page's form: `Since`, then `Required permission(s)`, then the text."""
    if operation.access is None:
        return operation.description
    also = ""
    if operation.access_with is not None:
        named, access = operation.access_with
        extra = set(access.permissions) - set(operation.access.permissions)
        also = " (+" + ",".join(sorted(p.value for p in extra)) + f" when {named} is given)"
    text = (
        f"Required permission(s): {_required_permissions(operation.access, also)}\n\n"
        f"{operation.description}"
    )
    return f"Since: {operation.since}\n\n{text}" if operation.since else text


# -- examples ----------------------------------------------------------------------------------


def _examples() -> dict[str, Any]:
    """The response examples routes.py names."""
    credentials = _credential_examples()
    return {
        **credentials,
        "events": _event_list_example(),
        "page": {
            "items": [credentials["patch"]],
            "_pagination": {
                "continuationToken": "eyJ2IjoxLCJhZnRlciI6InVzZXItMTIzIn0",
                "limit": 1,
            },
        },
    }


def _credential_examples() -> dict[str, dict[str, Any]]:
    created = {
        "created": "2026-11-27T00:00:04.626Z",
        "lastModified": "2026-11-27T00:00:04.626Z",
        "version": 1,
        "extId": "65abca32-58df-42a6-a75b-4c992480f8c3",
        "userExtId": "user-123",
        "policyExtId": "tsp-default",
        "stateName": CredentialState.INITIAL.value,
        "stateChangeReason": StateChangeReason.INITIALIZED.value,
        "successfulLoginCount": 0,
        "failedLoginCount": 0,
        "type": CREDENTIAL_TYPE,
        "tempStrongPassword": "pJ9j8et27isxWP9tGMrRmJixdc14mJ",
        "resetCount": 0,
        "createdBy": "helpdesk-7",
        "modifiedBy": "helpdesk-7",
    }
    hidden = {k: v for k, v in created.items() if k != "tempStrongPassword"}
    hidden["policyExtId"] = "tsp-sms"
    reset = {
        **created,
        "lastModified": "2026-11-28T09:12:40.015Z",
        "version": 2,
        "stateChangeReason": StateChangeReason.RESET.value,
        "tempStrongPassword": "Xq3vL0aTn8RbK2mWc6YpE1sJd9GhU4",
        "resetCount": 1,
    }
    stored = {
        **reset,
        "tempStrongPassword": "{SSHA256}3q2+7wAAAAAQmVhdXRpZnVsIGlzIGJldHRlciB0aGFuIHVnbHk=",
    }
    patched = {k: v for k, v in reset.items() if k != "tempStrongPassword"}
    patched.update(
        {
            "lastModified": "2026-11-28T10:02:11.300Z",
            "version": 5,
            "stateName": CredentialState.ACTIVE.value,
            "stateChangeReason": StateChangeReason.CHANGED_BY_ADMIN.value,
            "lastFailedLoginDate": "2026-11-28T09:58:30.120Z",
            "modificationComment": "Unlocked after a call to the helpdesk.",
            "modifiedBy": "helpdesk-9",
        }
    )
    return {
        "created": created,
        "created-hidden": hidden,
        "reset": reset,
        "get": stored,
        "patch": patched,
    }


def _event_list_example() -> dict[str, Any]:
    return {
        "items": [
            {
                "id": "4eb38b0a-3516-5681-9dac-fb5a17fd1fd1",
                "type": "TempStrongPasswordCreated",
                "version": 1,
                "time": "2026-11-27T00:00:04.626Z",
                "data": {
                    "clientExtId": "client-123",
                    "userExtId": "user-123",
                    "extId": "65abca32-58df-42a6-a75b-4c992480f8c3",
                    "policyExtId": "tsp-default",
                    "stateName": "initial",
                    "validUntil": "2026-12-02T00:00:04.626Z",
                    "actor": "helpdesk-7",
                    "correlationId": "0356ecff958a4540927293db98f9506e",
                    "sendingMethod": "Email",
                },
            },
            {
                "id": "9d60c412-5b87-5333-af06-f95f19e17e1d",
                "type": "TempStrongPasswordReset",
                "version": 2,
                "time": "2026-11-28T09:12:40.015Z",
                "data": {
                    "validUntil": "2026-12-03T09:12:40.015Z",
                    "actor": "helpdesk-7",
                    "correlationId": "3696024e70b846c48915acc8b5e8cc98",
                    "sendingMethod": "Email",
                },
            },
        ]
    }


# -- schemas -----------------------------------------------------------------------------------

_DATE = {"type": "string", "format": "date-time", "example": "2026-11-27T00:00:04.626Z"}


def _int32(description: str) -> dict[str, Any]:
    return {"type": "integer", "format": "int32", "description": description}


def _date(description: str) -> dict[str, Any]:
    return {**_DATE, "description": description}


def _schemas() -> dict[str, Any]:
    return {**_error_schemas(), **_resource_schemas(), **_system_schemas()}


def _error_schemas() -> dict[str, Any]:
    error_codes = ", ".join(f"`{c}` ({s})" for c, s in STATUS_BY_CODE.items())
    return {
        "Errors": {
            "type": "object",
            "required": ["errors"],
            "description": "Every error answer: at least one error; read `errors[0].code`.",
            "properties": {
                "errors": {"type": "array", "minItems": 1, "items": _schema("Error")},
            },
        },
        "Error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "The error code. Known codes (with their status): "
                    f"{error_codes}. The set is open: treat an unknown code by its status.",
                    "x-extensible-enum": list(STATUS_BY_CODE),
                    "example": "errors.validation",
                },
                "message": {
                    "type": "string",
                    "description": "For people; never a secret or a stack trace.",
                },
            },
        },
    }


def _credential_properties() -> dict[str, Any]:
    return {
        "created": _date("Creation date of the entity."),
        "lastModified": _date("Date when the entity was last modified."),
        "version": _int32("Version used for optimistic locking."),
        "extId": {"type": "string", "description": "The external ID of the credential."},
        "userExtId": {
            "type": "string",
            "description": "The external ID of the user to whom the credential belongs.",
        },
        "policyExtId": {"type": "string", "description": "The external ID of the used policy."},
        "stateName": _open_enum(
            (s.value for s in CredentialState), "The state of the credential.", "initial"
        ),
        "stateChangeReason": _open_enum(
            (r.value for r in StateChangeReason),
            "Reason for the last state change of the password.",
            "reset",
        ),
        "stateChangeDetail": {
            "type": "string",
            "description": "Reason detail for the last state change of the password.",
        },
        "lastSuccessfulLoginDate": _date("Timestamp of last successful login."),
        "successfulLoginCount": _int32(
            "Counts successful logins with this credential since last initialization or reset."
        ),
        "lastFailedLoginDate": _date(
            "Date of last non-technical login failure, for example, wrong password."
        ),
        "failedLoginCount": _int32(
            "Counts non-technical login failures since the last successful login, "
            "initialization or reset."
        ),
        "modificationComment": {
            "type": "string",
            "description": "Textual comment regarding the last modification.",
        },
        "type": _open_enum((CREDENTIAL_TYPE,), "Type of credential.", CREDENTIAL_TYPE),
        "tempStrongPassword": {
            "type": "string",
            "description": "The hashed temporary strong password value with the message digest "
            "algorithm prefix, or the plaintext password fragment when returned by a create or "
            "reset operation (only when the policy exposes it; never on a replay).",
        },
        "resetCount": _int32("The number of times the credential has been reset."),
        "createdBy": {
            "type": "string",
            "description": "Who created it (the token's subject); omitted for SelfAdmin callers.",
        },
        "modifiedBy": {
            "type": "string",
            "description": "Who changed it last; omitted for SelfAdmin callers.",
        },
    }


def _resource_schemas() -> dict[str, Any]:
    user_profile = {
        name: {"type": "string", "description": spec.description}
        for name, spec in USER_FIELDS.items()
    }
    return {
        "CredentialStateName": {
            "type": "string",
            "description": "A credential state, as a request names it (the server refuses "
            "others). Responses may carry states added later: see `TempStrongPassword`.",
            "enum": [s.value for s in CredentialState],
        },
        "UserCreate": _body_schema(
            USER_FIELDS,
            {
                "extId": "user-123",
                "loginId": "user-123",
                "email": "user@example.com",
                "mobile": "+41790000000",
                "language": "de-CH",
            },
        ),
        "User": {
            "type": "object",
            "required": ["extId", "created", "lastModified", "version"],
            "properties": {
                **user_profile,
                "created": _date("Creation date of the entity."),
                "lastModified": _date("Date when the entity was last modified."),
                "version": _int32("Version used for optimistic locking."),
            },
            "example": {
                "extId": "user-123",
                "email": "user@example.com",
                "language": "de-CH",
                "created": "2026-11-27T00:00:03.101Z",
                "lastModified": "2026-11-27T00:00:03.101Z",
                "version": 1,
            },
        },
        "CredentialCreate": _body_schema(
            CREATE_CREDENTIAL_FIELDS, {"extId": "tsp-user-123", "policyExtId": "tsp-default"}
        ),
        "CredentialPatch": _body_schema(
            PATCH_CREDENTIAL_FIELDS,
            {"version": 4, "stateName": "active", "modificationComment": "Unlocked."},
        ),
        "VerifyRequest": _body_schema(
            VERIFY_FIELDS, {"password": "pJ9j8et27isxWP9tGMrRmJixdc14mJr4Tz8qVw"}
        ),
        "TempStrongPassword": {
            "type": "object",
            "description": "The seed's credential schema; fields without a value are omitted.",
            "required": [
                "created",
                "lastModified",
                "version",
                "extId",
                "userExtId",
                "policyExtId",
                "stateName",
                "successfulLoginCount",
                "failedLoginCount",
                "type",
                "resetCount",
            ],
            "properties": _credential_properties(),
        },
        "VerifyResult": {
            "type": "object",
            "required": ["result"],
            "properties": {"result": _open_enum(("ok",), "The outcome.", "ok")},
            "example": {"result": "ok"},
        },
        "CredentialPage": {
            "type": "object",
            "required": ["items", "_pagination"],
            "properties": {
                "items": {"type": "array", "items": _schema("TempStrongPassword")},
                "_pagination": _schema("Pagination"),
            },
        },
        "Pagination": {
            "type": "object",
            "required": ["limit"],
            "properties": {
                "continuationToken": {
                    "type": "string",
                    "description": "Present when there may be a next page.",
                },
                "limit": {"type": "integer", "description": "The page size used."},
            },
        },
        "EventList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": _schema("Event")}},
        },
        "Event": {
            "type": "object",
            "required": ["id", "type", "version", "time", "data"],
            "properties": {
                "id": {"type": "string", "format": "uuid", "description": "The event's id."},
                "type": _open_enum(EVENT_TYPES, "The event type.", "TempStrongPasswordReset"),
                "version": _int32("The credential's version after the event."),
                "time": _date("When it happened."),
                "data": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "What changed, in camelCase; never a secret.",
                },
            },
        },
    }


def _system_schemas() -> dict[str, Any]:
    return {
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": _open_enum(("ok",), "Alive.", "ok")},
            "example": {"status": "ok"},
        },
        "Readiness": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": _open_enum(("ready",), "Ready.", "ready")},
            "example": {"status": "ready"},
        },
        "Metrics": {"type": "string", "description": "The Prometheus text exposition format."},
        "JsonDocument": {
            "type": "object",
            "additionalProperties": True,
            "description": "A JSON document.",
        },
    }


def _parameters() -> dict[str, Any]:
    return {
        "clientExtId": {
            "name": "clientExtId",
            "in": "path",
            "required": True,
            "description": "External ID of the client.",
            "schema": {"type": "string", "pattern": f"^{CLIENT_EXT_ID.pattern}$"},
            "example": "client-123",
        },
        "userExtId": {
            "name": "userExtId",
            "in": "path",
            "required": True,
            "description": "External ID of the user.",
            "schema": {"type": "string", "pattern": f"^{EXT_ID.pattern}$"},
            "example": "user-123",
        },
        IDEMPOTENCY_KEY_HEADER: {
            "name": IDEMPOTENCY_KEY_HEADER,
            "in": "header",
            "required": False,
            "description": "Makes a retry safe: within 24 h, a request with the same key (same "
            "token subject, method and path) and the same body answers the first successful "
            f"outcome (same version, `{h.REPLAYED_HEADER}: true`, without the password "
            "fragment) and changes nothing, in whichever API process. The same body means the "
            "same fields with the same values once validated: whitespace, the order of the "
            "fields and fields given as `null` do not matter, and no body is the same as `{}`. "
            "The key sent again with another body is 422 `errors.idempotencyKeyReused` and "
            "changes nothing. Failures are not remembered; after the credential or user was "
            "deleted a replay is 404.",
            "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"},
            "example": "7f1c2a1e-reset-1",
        },
    }


def _header_components() -> dict[str, Any]:
    return {
        REQUEST_ID_HEADER: {
            "description": "The request's id, also in the logs and carried as the correlation "
            "id of its events: the request's own `X-Request-Id` when it matches "
            f"`{REQUEST_ID.pattern}`, else a generated one.",
            "schema": {"type": "string", "pattern": f"^{REQUEST_ID.pattern}$"},
            "example": "627e3739ef8b441baecfda99d4babff3",
        },
        "Location": {
            "description": "The path of what was created.",
            "schema": {"type": "string"},
            "example": "/nevisidm/api/core/v1/client-123/users/user-123/tempstrong-password",
        },
        h.REPLAYED_HEADER: {
            "description": "`true` when the answer replays an earlier request with the same "
            "Idempotency-Key (nothing was changed; no password fragment); absent otherwise.",
            "schema": {"type": "string", "enum": ["true"]},
        },
        "WWW-Authenticate": {
            "description": "With `errors.unauthorized` (the token), never with "
            "`errors.invalidCredential` (the password).",
            "schema": {"type": "string"},
            "example": 'Bearer realm="tempstrong"',
        },
        "Allow": {
            "description": "The methods the path answers.",
            "schema": {"type": "string"},
            "example": "DELETE,GET,PATCH,POST",
        },
    }


def _version() -> str:
    try:
        return version("tempstrong")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without installing
        return "0.0.0"


def build_openapi() -> dict[str, Any]:
    missing = set(STATUS_BY_CODE) - set(_MEANINGS) | set(STATUS_BY_CODE) - set(_EXAMPLE_MESSAGES)
    if missing:
        raise ValueError(f"error codes without a meaning or an example: {sorted(missing)}")
    paths: dict[str, dict[str, Any]] = {}
    examples = _examples()
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation_document(route, examples)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tempstrong",
            "version": _version(),
            "description": "Temporary Strong Password credentials, compatible with the nevisIDM "
            "REST API (`/nevisidm/api/core/v1`). JSON bodies in camelCase, each key at most "
            "once in any object (a duplicated key is 400); dates are ISO-8601 UTC with "
            "milliseconds and `Z`; fields without a value are omitted. Identifiers (`userExtId`, "
            "`extId`, `loginId`, `policyExtId`) are never `.` or `..`. Errors are "
            '`{"errors":[{"code","message"}]}`: act on `errors[0].code` and treat unknown codes '
            "by their status. Every answer carries `X-Request-Id`.",
        },
        "servers": [
            {"url": "/", "description": "The service that serves this document"},
            {
                "url": "{origin}",
                "description": "A tempstrong API by its origin",
                "variables": {
                    "origin": {
                        "default": "http://127.0.0.1:8080",
                        "description": "Scheme, host and port (`tempstrong dev` listens here).",
                    }
                },
            },
        ],
        "security": [{"XToken": []}, {"Bearer": []}],
        "tags": [
            {"name": "Users", "description": "The users that own credentials."},
            {
                "name": "TempStrongPassword",
                "description": "The Temporary Strong Password credential of a user.",
            },
            {"name": "System", "description": "Probes, metrics and contracts; no token."},
        ],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "parameters": _parameters(),
            "headers": _header_components(),
            "securitySchemes": {
                "XToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Token",
                    "description": "A JWT signed with RS256, ES256 or EdDSA, with `exp`, `iss` "
                    "and `aud`. Claims `permissions` and `clients` (`*` for all), or for "
                    'SelfAdmin `roles: ["SelfAdmin"]`, `client` and `sub` (the user).',
                },
                "Bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The same JWT in `Authorization: Bearer`.",
                },
            },
        },
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(build_openapi(), indent=2))
