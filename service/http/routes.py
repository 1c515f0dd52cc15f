"""Every route of the API: its method, path and handler, and what the OpenAPI document says about
it. A new route is one entry here; app.py registers them all, openapi.py documents them all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..contracts.paths import CREDENTIAL_LIST_PATH, CREDENTIAL_PATH, USER_PATH, USERS_PATH
from ..domain import errors as domain
from . import handlers as h
from . import system
from .operation import Operation, Success
from .parsing import DEFAULT_PAGE_LIMIT, IDEMPOTENCY_KEY_HEADER, MAX_BODY_BYTES, MAX_PAGE_LIMIT
from .requirements import (
    CAN_CREATE_CREDENTIAL,
    CAN_CREATE_CREDENTIAL_WITH_STATE,
    CAN_CREATE_USER,
    CAN_DELETE_CREDENTIAL,
    CAN_DELETE_USER,
    CAN_GET_CREDENTIAL,
    CAN_GET_USER,
    CAN_LIST_CREDENTIALS,
    CAN_LIST_EVENTS,
    CAN_MODIFY_CREDENTIAL,
    CAN_RESET_CREDENTIAL,
    CAN_VERIFY_CREDENTIAL,
)

ASYNCAPI_PATH = "/asyncapi.json"  # the AsyncAPI document, also docs/asyncapi.yaml
SELF_ADMIN_NOTE = (
    "In self-admin mode, a valid JWT token must be provided in the X-Token request header; "
    "the response then omits `createdBy` and `modifiedBy`."
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    operation: Operation


ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        USERS_PATH,
        h.create_user,
        Operation(
            "createUser",
            "Users",
            "Create a user",
            "Registers a user of the client (again, once it was deleted). The body is the "
            "user's profile; the response is that profile plus `created`, `lastModified` "
            "and `version`.",
            {"201": Success("The user was created.", "User", headers=("Location",))},
            CAN_CREATE_USER,
            (domain.AlreadyExists.code, domain.Conflict.code),
            body="UserCreate",
            meanings={
                "errors.noRecord": "no such client",
                "errors.alreadyExists": "the user exists already",
            },
        ),
    ),
    Route(
        "get",
        USER_PATH,
        h.get_user,
        Operation(
            "getUser",
            "Users",
            "Get a user",
            "The user's profile.",
            {"200": Success("The user.", "User")},
            CAN_GET_USER,
        ),
    ),
    Route(
        "delete",
        USER_PATH,
        h.delete_user,
        Operation(
            "deleteUser",
            "Users",
            "Delete a user and its temporary strong password",
            "Deletes the user and its credential in one change.",
            {"204": Success("The user and its credential were deleted.")},
            CAN_DELETE_USER,
            (domain.Conflict.code,),
        ),
    ),
    Route(
        "post",
        CREDENTIAL_PATH,
        h.create_credential,
        Operation(
            "createTempStrongPassword",
            "TempStrongPassword",
            "Create the temporary strong password",
            "Creates the user's credential (one per user) under the client's default policy "
            "or the one named. The response always carries the credential; "
            "`tempStrongPassword` holds fragment0 (with `sendingMethod: None` the whole "
            "password) only when the policy exposes it, and the out-of-band channel carries "
            "the rest. A body-less request needs no `Content-Type`.",
            {
                "201": Success(
                    "The credential was created; `Location` is its path. `tempStrongPassword` "
                    "is absent when the policy does not expose the fragment, and on a replay.",
                    "TempStrongPassword",
                    headers=("Location", h.REPLAYED_HEADER),
                    examples={
                        "exposed": ("The policy exposes fragment0", "created"),
                        "hidden": ("The policy does not expose it (or a replay)", "created-hidden"),
                    },
                )
            },
            CAN_CREATE_CREDENTIAL,
            (
                domain.AlreadyExists.code,
                domain.Conflict.code,
                domain.IdempotencyKeyReused.code,
                domain.PolicyNotAllowed.code,
                domain.StateNotAllowed.code,
                domain.MissingDeliveryAddress.code,
                domain.DeliveryNotConfigured.code,
            ),
            body="CredentialCreate",
            body_required=False,
            parameters=(IDEMPOTENCY_KEY_HEADER,),
            meanings={
                "errors.forbidden": "the token does not permit this operation on this client or "
                "user (or names stateName without AccessControl.CredentialChangeState)",
            },
            access_with=("stateName", CAN_CREATE_CREDENTIAL_WITH_STATE),
        ),
    ),
    Route(
        "get",
        CREDENTIAL_PATH,
        h.get_credential,
        Operation(
            "getTempStrongPassword",
            "TempStrongPassword",
            "Get the temporary strong password",
            "The credential as stored: `tempStrongPassword` is the salted hash with its "
            "algorithm prefix. Reflects every acknowledged write. " + SELF_ADMIN_NOTE,
            {
                "200": Success(
                    "The credential.",
                    "TempStrongPassword",
                    examples={"stored": ("The stored credential", "get")},
                )
            },
            CAN_GET_CREDENTIAL,
        ),
    ),
    Route(
        "patch",
        CREDENTIAL_PATH,
        h.patch_credential,
        Operation(
            "modifyTempStrongPassword",
            "TempStrongPassword",
            "Modify the state, policy or comment of the temporary strong password",
            "Optimistic locking: `version` must be the credential's current version (else "
            "409). A change of state (e.g. `active` to unlock) ends any lock and zeroes "
            "`failedLoginCount`; a PATCH that keeps the state keeps a running lock as it is. "
            "A PATCH never sets `tmp-locked` or `fail-locked` (422).",
            {
                "200": Success(
                    "The modified credential (without `tempStrongPassword`).",
                    "TempStrongPassword",
                    examples={"modified": ("An admin unlock", "patch")},
                )
            },
            CAN_MODIFY_CREDENTIAL,
            (domain.Conflict.code, domain.PolicyNotAllowed.code, domain.StateNotAllowed.code),
            body="CredentialPatch",
        ),
    ),
    Route(
        "delete",
        CREDENTIAL_PATH,
        h.delete_credential,
        Operation(
            "deleteTempStrongPassword",
            "TempStrongPassword",
            "Delete the temporary strong password",
            "Deletes the user's credential.",
            {"204": Success("The credential was deleted.")},
            CAN_DELETE_CREDENTIAL,
            (domain.Conflict.code,),
        ),
    ),
    Route(
        "post",
        CREDENTIAL_PATH + "/reset",
        h.reset_credential,
        Operation(
            "resetTempStrongPassword",
            "TempStrongPassword",
            "Reset the temporary strong password",
            "Resets the temporary strong password for the specified user, generating a new "
            "server-side password and resetting the credential state to initial.\n\n"
            "The operation will fail if the reset count has reached the maximum allowed by "
            "the configured policy (`maxResetCount`).\n\n"
            "Depending on the policy configuration, the response may contain a "
            "tempStrongPassword field holding the new plaintext password fragment for "
            "out-of-band delivery to the user. If the policy does not expose the fragment, "
            "204 No Content is returned instead of a response body.\n\n"
            + SELF_ADMIN_NOTE
            + "\n\nThe request has no body; one sent all the same must be JSON (else 415) "
            f"of at most {MAX_BODY_BYTES // 1024} KiB (else 413) without fields.",
            {
                "200": Success(
                    "Temporary strong password reset successfully. `tempStrongPassword` holds "
                    "the new fragment (absent on an idempotent replay).",
                    "TempStrongPassword",
                    headers=(h.REPLAYED_HEADER,),
                    examples={"reset": ("fragment0 of the new password", "reset")},
                ),
                "204": Success(
                    "Temporary strong password reset successfully; the policy does not expose "
                    "the password fragment, so there is no body.",
                    headers=(h.REPLAYED_HEADER,),
                ),
            },
            CAN_RESET_CREDENTIAL,
            (
                domain.Conflict.code,
                domain.IdempotencyKeyReused.code,
                domain.MaxResetCountReached.code,
                domain.CredentialArchived.code,
                domain.MissingDeliveryAddress.code,
                domain.DeliveryNotConfigured.code,
            ),
            reads_body=True,
            parameters=(IDEMPOTENCY_KEY_HEADER,),
            since="8.2511.0",
        ),
    ),
    Route(
        "post",
        CREDENTIAL_PATH + "/verify",
        h.verify_credential,
        Operation(
            "verifyTempStrongPassword",
            "TempStrongPassword",
            "Verify a password",
            "Checks the whole password (fragment0 followed by fragment1). A success moves "
            "`initial` to `active` and zeroes `failedLoginCount`.\n\n"
            "**A 401 has two meanings**, told apart by `errors[0].code`: "
            "`errors.invalidCredential` is the answer to the password (the attempt was "
            "counted; do NOT refresh the token and retry), `errors.unauthorized` is about "
            "the token (refresh it and retry). 423 means nothing was checked or counted.",
            {"200": Success("The password is right.", "VerifyResult")},
            CAN_VERIFY_CREDENTIAL,
            (
                domain.InvalidCredential.code,
                domain.Conflict.code,
                domain.CredentialLocked.code,
                domain.CredentialNotUsable.code,
            ),
            body="VerifyRequest",
        ),
    ),
    Route(
        "get",
        CREDENTIAL_PATH + "/events",
        h.credential_events,
        Operation(
            "listTempStrongPasswordEvents",
            "TempStrongPassword",
            "List the credential's events",
            "The credential's audit trail from the event store, oldest first, without "
            "secrets (no hash, no sealed delivery).",
            {
                "200": Success(
                    "The events.",
                    "EventList",
                    examples={"trail": ("A create, then a reset", "events")},
                )
            },
            CAN_LIST_EVENTS,
        ),
    ),
    Route(
        "get",
        CREDENTIAL_LIST_PATH,
        h.list_credentials,
        Operation(
            "listTempStrongPasswords",
            "TempStrongPassword",
            "List the client's temporary strong passwords",
            "Served from the read model (may lag the event store, normally well under a "
            "second), sorted by `userExtId`. Pass `_pagination.continuationToken` back as "
            "`continuationToken` for the next page. Unknown query parameters are 400.",
            {
                "200": Success(
                    "A page of credentials.",
                    "CredentialPage",
                    examples={"page": ("A page with more to come", "page")},
                )
            },
            CAN_LIST_CREDENTIALS,
            parameters=(
                {
                    "name": "stateName",
                    "in": "query",
                    "required": False,
                    "description": "Only credentials in this state.",
                    "schema": {"$ref": "#/components/schemas/CredentialStateName"},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": "The page size.",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PAGE_LIMIT,
                        "default": DEFAULT_PAGE_LIMIT,
                    },
                },
                {
                    "name": "continuationToken",
                    "in": "query",
                    "required": False,
                    "description": "The previous page's `_pagination.continuationToken`.",
                    "schema": {"type": "string"},
                },
            ),
            meanings={"errors.noRecord": "no such client"},
        ),
    ),
    Route(
        "get",
        "/healthz",
        system.healthz,
        Operation(
            "getHealth",
            "System",
            "Liveness",
            "The process is alive (no dependency is checked). No token.",
            {"200": Success("Alive.", "Health")},
        ),
    ),
    Route(
        "get",
        "/readyz",
        system.readyz,
        Operation(
            "getReadiness",
            "System",
            "Readiness",
            "PostgreSQL is reachable and has the schema (RabbitMQ is not checked: its outage "
            "must not take the API out of service). No token.",
            {"200": Success("Ready to take traffic.", "Readiness")},
            errors=("errors.unavailable",),
            meanings={
                "errors.unavailable": "not ready; the message says why (e.g. to run "
                "`tempstrong migrate`)"
            },
        ),
    ),
    Route(
        "get",
        "/metrics",
        system.metrics,
        Operation(
            "getMetrics",
            "System",
            "Prometheus metrics",
            "The process's metrics in the Prometheus text format. No token.",
            {"200": Success("The metrics.", "Metrics", media_type="text/plain")},
        ),
    ),
    Route(
        "get",
        "/openapi.json",
        system.openapi,
        Operation(
            "getOpenApi",
            "System",
            "This OpenAPI document",
            "The HTTP API's contract. No token.",
            {"200": Success("The OpenAPI 3.0 document.", "JsonDocument")},
        ),
    ),
    Route(
        "get",
        ASYNCAPI_PATH,
        system.asyncapi,
        Operation(
            "getAsyncApi",
            "System",
            "The AsyncAPI document",
            "The contract of the credential events published on RabbitMQ. No token.",
            {"200": Success("The AsyncAPI 3 document.", "JsonDocument")},
        ),
    ),
)
