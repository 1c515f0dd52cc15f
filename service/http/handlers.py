"""Route handlers: parse, authorize, call one service command, render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..commands.idempotency import IdempotentRequest
from ..commands.outcomes import CredentialOutcome, UserProfile
from ..contracts.paths import CREDENTIAL_PATH, USER_PATH
from ..domain.credential import TempStrongPassword
from ..domain.errors import Conflict
from ..domain.idempotency import request_fingerprint
from ..domain.states import CredentialState
from ..privacy.personal_data import NOTHING, Revealer
from ..queries.pages import PageQuery
from ..security.access import Principal, authorize
from .context import ApiContext, context_of
from .errors import ApiError
from .middlewares import PRINCIPAL
from .parsing import (
    CREATE_CREDENTIAL_FIELDS,
    PATCH_CREDENTIAL_FIELDS,
    RESET_FIELDS,
    USER_FIELDS,
    VERIFY_FIELDS,
    encode_continuation,
    idempotency_key,
    json_body,
    page_request,
    path_ids,
)
from .render import credential_body, event_item, user_body
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
    Access,
)

REPLAYED_HEADER = "Idempotent-Replayed"

_Command = Callable[[IdempotentRequest | None], Awaitable[CredentialOutcome]]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    client: str
    user: str | None
    self_admin: bool

    @property
    def actor(self) -> str:
        return self.principal.subject


def _caller(request: web.Request, access: Access) -> tuple[ApiContext, Caller]:
    """Checks scope and permissions from the path alone: 403 comes before any lookup."""
    client, user = path_ids(request)
    principal: Principal = request[PRINCIPAL]
    acting_as_self = authorize(
        principal, client, user, access.permissions, self_admin=access.self_admin
    )
    return context_of(request), Caller(principal, client, user, acting_as_self)


def _credential_location(client: str, user: str) -> str:
    return CREDENTIAL_PATH.format(clientExtId=client, userExtId=user)


def _render(
    ctx: ApiContext,
    caller: Caller,
    credential: TempStrongPassword,
    secret: str | None,
    revealer: Revealer = NOTHING,
) -> dict[str, object]:
    return credential_body(
        credential,
        ctx.queries.now(),
        temp_strong_password=secret,
        include_actors=not caller.self_admin,
        revealer=revealer,
    )


# -- users -----------------------------------------------------------------------------------


async def create_user(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_CREATE_USER)
    body = await json_body(request, USER_FIELDS)
    profile = UserProfile(
        login_id=body.get("loginId"),
        email=body.get("email"),
        mobile=body.get("mobile"),
        language=body.get("language"),
    )
    user = await ctx.run(ctx.commands.users.register, caller.client, body["extId"], profile)
    location = USER_PATH.format(clientExtId=caller.client, userExtId=user.user.ext_id)
    return web.json_response(user_body(user), status=201, headers={"Location": location})


async def get_user(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_GET_USER)
    user = await ctx.run(ctx.queries.users.get, caller.client, str(caller.user))
    return web.json_response(user_body(user))


async def delete_user(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_DELETE_USER)
    await ctx.run(ctx.commands.users.delete, caller.client, str(caller.user), caller.actor)
    return web.Response(status=204)


# -- credential ------------------------------------------------------------------------------


async def create_credential(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_CREATE_CREDENTIAL)
    body = await json_body(request, CREATE_CREDENTIAL_FIELDS)
    state_name = body.get("stateName")
    if state_name is not None:
        _caller(request, CAN_CREATE_CREDENTIAL_WITH_STATE)
    user = str(caller.user)
    outcome: CredentialOutcome = await _idempotent(
        request,
        ctx,
        caller,
        body,
        lambda idempotency: ctx.commands.credentials.create(
            caller.client,
            user,
            ext_id=body.get("extId"),
            policy_ext_id=body.get("policyExtId"),
            state_name=CredentialState(state_name) if state_name else None,
            actor=caller.actor,
            idempotency=idempotency,
        ),
    )
    headers = {"Location": _credential_location(caller.client, user), **_replay_header(outcome)}
    # always the body (one shape per status for generated clients); the fragment only if exposed
    body_out = _render(ctx, caller, outcome.credential, outcome.response_secret, outcome.revealer)
    return web.json_response(body_out, status=201, headers=headers)


async def reset_credential(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_RESET_CREDENTIAL)
    body = await json_body(request, RESET_FIELDS)
    user = str(caller.user)
    try:
        outcome: CredentialOutcome = await _idempotent(
            request,
            ctx,
            caller,
            body,
            lambda idempotency: ctx.commands.credentials.reset(
                caller.client, user, actor=caller.actor, idempotency=idempotency
            ),
        )
    except Exception as exc:
        ctx.metrics.resets.labels(getattr(exc, "code", "error")).inc()
        raise
    ctx.metrics.resets.labels("replayed" if outcome.replayed else "ok").inc()
    headers = _replay_header(outcome)
    if not outcome.has_body:
        return web.Response(status=204, headers=headers)
    body_out = _render(ctx, caller, outcome.credential, outcome.response_secret, outcome.revealer)
    return web.json_response(body_out, headers=headers)


async def get_credential(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_GET_CREDENTIAL)
    view = await ctx.run(ctx.queries.credentials.get, caller.client, str(caller.user))
    credential = view.credential
    return web.json_response(
        _render(ctx, caller, credential, credential.password_hash, view.revealer)
    )


async def patch_credential(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_MODIFY_CREDENTIAL)
    body = await json_body(request, PATCH_CREDENTIAL_FIELDS)
    state_name = body.get("stateName")
    view = await ctx.run(
        ctx.commands.credentials.modify,
        caller.client,
        str(caller.user),
        expected_version=body["version"],
        state_name=CredentialState(state_name) if state_name else None,
        policy_ext_id=body.get("policyExtId"),
        modification_comment=body.get("modificationComment"),
        actor=caller.actor,
    )
    return web.json_response(_render(ctx, caller, view.credential, None, view.revealer))


async def delete_credential(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_DELETE_CREDENTIAL)
    await ctx.run(ctx.commands.credentials.delete, caller.client, str(caller.user), caller.actor)
    return web.Response(status=204)


async def verify_credential(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_VERIFY_CREDENTIAL)
    body = await json_body(request, VERIFY_FIELDS)
    try:
        matched = await ctx.run(
            ctx.commands.credentials.verify, caller.client, str(caller.user), body["password"]
        )
    except Exception as exc:
        ctx.metrics.verifications.labels(getattr(exc, "code", "error")).inc()
        raise
    ctx.metrics.verifications.labels("ok" if matched else "errors.invalidCredential").inc()
    if not matched:
        raise ApiError("errors.invalidCredential", "The password is not valid.")
    return web.json_response({"result": "ok"})


async def credential_events(request: web.Request) -> web.Response:
    ctx, caller = _caller(request, CAN_LIST_EVENTS)
    trail = await ctx.run(ctx.queries.credentials.events, caller.client, str(caller.user))
    return web.json_response({"items": [event_item(e, trail.revealer) for e in trail.events]})


async def list_credentials(request: web.Request) -> web.Response:
    """Served from the read model (may lag); sorted by userExtId, keyset pagination."""
    ctx, caller = _caller(request, CAN_LIST_CREDENTIALS)
    query = page_request(request)
    credentials = await ctx.run(
        ctx.queries.credentials.page,
        PageQuery(
            caller.client, query.state_name, query.after_user, query.limit + 1, ctx.queries.now()
        ),
    )
    pagination: dict[str, object] = {"limit": query.limit}
    if len(credentials) > query.limit:
        credentials = credentials[: query.limit]
        pagination["continuationToken"] = encode_continuation(credentials[-1].user_ext_id)
    items = [_render(ctx, caller, credential, None) for credential in credentials]
    return web.json_response({"items": items, "_pagination": pagination})


# -- idempotency -----------------------------------------------------------------------------


async def _idempotent(
    request: web.Request,
    ctx: ApiContext,
    caller: Caller,
    body: Mapping[str, Any],
    command: _Command,
) -> CredentialOutcome:
    """The command, told the key's scope and the request's fingerprint if a key was sent."""
    key = idempotency_key(request)
    if key is None:
        return await ctx.run(command, None)
    scope = "|".join((caller.principal.subject, request.method, request.path, key))
    if scope in ctx.in_flight:
        raise Conflict("A request with this Idempotency-Key is still in flight.")
    ctx.in_flight.add(scope)
    try:
        return await ctx.run(command, IdempotentRequest(scope, request_fingerprint(body)))
    finally:
        ctx.in_flight.discard(scope)


def _replay_header(outcome: CredentialOutcome) -> dict[str, str]:
    return {REPLAYED_HEADER: "true"} if outcome.replayed else {}
