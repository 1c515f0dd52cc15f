"""Request id + metrics, error rendering, and token authentication."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..contracts.paths import BASE_PATH
from ..domain.errors import DomainError
from ..eventstore.port import StoreUnavailable
from ..observability.correlation import is_valid_request_id
from ..observability.logs import request_id_var
from ..security.access import Forbidden, Principal, Unauthorized
from .context import context_of
from .errors import ApiError, error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIX = BASE_PATH + "/"
REQUEST_ID_HEADER = "X-Request-Id"
PRINCIPAL = web.RequestKey("principal", Principal)
# the port's outage error; TimeoutError: the request's deadline passed while waiting on a call
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (StoreUnavailable, TimeoutError)

log = logging.getLogger("tempstrong.http")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if is_valid_request_id(incoming) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        metrics = context_of(request).metrics
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        if status >= 500:
            log.warning("request failed", extra={"route": route, "status": status})
        request_id_var.reset(token)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.code, exc.message, exc.headers)
    except DomainError as exc:
        return error_response(exc.code, exc.message)
    except Unauthorized as exc:
        return _unauthorized(str(exc))
    except Forbidden as exc:
        return error_response("errors.forbidden", str(exc))
    except web.HTTPRequestEntityTooLarge:
        return error_response("errors.payloadTooLarge", "The body exceeds 64 KiB.")
    except web.HTTPNotFound:
        return error_response("errors.noRecord", "No such resource.")
    except web.HTTPMethodNotAllowed as exc:
        return error_response(
            "errors.methodNotAllowed",
            "Method not allowed.",
            {"Allow": ",".join(sorted(exc.allowed_methods))},
        )
    except web.HTTPException as exc:
        if exc.status >= 500:
            return error_response("errors.internal", "Internal error.")
        return error_response("errors.validation", exc.reason)
    except _UNAVAILABLE_ERRORS:
        log.warning("database unavailable", exc_info=True)
        return error_response("errors.unavailable", "The service is temporarily unavailable.")
    except Exception:
        log.exception("unhandled error")
        return error_response("errors.internal", "Internal error.")


def _unauthorized(message: str) -> web.Response:
    return error_response(
        "errors.unauthorized", message, {"WWW-Authenticate": 'Bearer realm="tempstrong"'}
    )


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    token = request.headers.get("X-Token")
    if token is None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    if not token:
        raise Unauthorized("A token is required in X-Token or Authorization: Bearer.")
    principal: Principal = await context_of(request).verifier.verify(token)
    request[PRINCIPAL] = principal
    return await handler(request)
