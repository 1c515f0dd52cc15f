"""The aiohttp application factory: routes, middlewares, system endpoints."""

from __future__ import annotations

import json

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..contracts.asyncapi import build_asyncapi
from . import handlers as h
from .context import CONTEXT, ApiContext, context_of
from .errors import error_response
from .middlewares import authenticate, errors, request_context
from .openapi import build_openapi
from .parsing import MAX_BODY_BYTES
from .protocol_errors import install_json_protocol_errors


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ctx = context_of(request)
    reason = await ctx.not_ready()
    ctx.metrics.ready.set(0 if reason else 1)
    if reason is None:
        return web.json_response({"status": "ready"})
    return error_response("errors.unavailable", reason)


async def metrics(request: web.Request) -> web.Response:
    payload = generate_latest(context_of(request).metrics.registry)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(ctx: ApiContext) -> web.Application:
    """The routes and middlewares; the resources behind `ctx` are opened and closed by the
    composition root that made them (its `cleanup_ctx`)."""
    install_json_protocol_errors()
    app = web.Application(
        middlewares=[request_context, errors, authenticate], client_max_size=MAX_BODY_BYTES
    )
    app[CONTEXT] = ctx
    openapi_body = json.dumps(build_openapi())
    asyncapi_body = json.dumps(build_asyncapi())

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=openapi_body, content_type="application/json")

    async def asyncapi(request: web.Request) -> web.Response:
        return web.Response(text=asyncapi_body, content_type="application/json")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/asyncapi.json", asyncapi)
    app.router.add_post(h.USERS, h.create_user)
    app.router.add_get(h.USER, h.get_user)
    app.router.add_delete(h.USER, h.delete_user)
    app.router.add_post(h.CREDENTIAL, h.create_credential)
    app.router.add_get(h.CREDENTIAL, h.get_credential)
    app.router.add_patch(h.CREDENTIAL, h.patch_credential)
    app.router.add_delete(h.CREDENTIAL, h.delete_credential)
    app.router.add_post(h.CREDENTIAL + "/reset", h.reset_credential)
    app.router.add_post(h.CREDENTIAL + "/verify", h.verify_credential)
    app.router.add_get(h.CREDENTIAL + "/events", h.credential_events)
    app.router.add_get(h.CREDENTIAL_LIST, h.list_credentials)
    return app
