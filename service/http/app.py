"""The aiohttp application factory: the routes of routes.py, the middlewares, the contracts."""

from __future__ import annotations

import json

from aiohttp import web

from ..contracts.asyncapi import build_asyncapi
from .context import CONTEXT, ApiContext
from .middlewares import authenticate, errors, request_context
from .openapi import build_openapi
from .parsing import MAX_BODY_BYTES
from .protocol_errors import install_json_protocol_errors
from .routes import ROUTES
from .system import ASYNCAPI_BODY, OPENAPI_BODY


def create_app(ctx: ApiContext) -> web.Application:
    """The routes and middlewares; the resources behind `ctx` are opened and closed by the
    composition root that made them (its `cleanup_ctx`)."""
    install_json_protocol_errors()
    app = web.Application(
        middlewares=[request_context, errors, authenticate], client_max_size=MAX_BODY_BYTES
    )
    app[CONTEXT] = ctx
    app[OPENAPI_BODY] = json.dumps(build_openapi())
    app[ASYNCAPI_BODY] = json.dumps(build_asyncapi())
    for route in ROUTES:
        # add_get also answers HEAD, as it always has
        getattr(app.router, f"add_{route.method}")(route.path, route.handler)
    return app
