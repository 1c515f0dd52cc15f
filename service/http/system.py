"""The system endpoints: probes, metrics and the two contract documents (no token)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .context import context_of
from .errors import error_response

# the documents are rendered once, when the application is made (app.py)
OPENAPI_BODY = web.AppKey("openapi_body", str)
ASYNCAPI_BODY = web.AppKey("asyncapi_body", str)


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


async def openapi(request: web.Request) -> web.Response:
    return web.Response(text=request.app[OPENAPI_BODY], content_type="application/json")


async def asyncapi(request: web.Request) -> web.Response:
    return web.Response(text=request.app[ASYNCAPI_BODY], content_type="application/json")
