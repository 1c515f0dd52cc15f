"""Errors the HTTP server raises itself (bad request line, oversized or malformed headers).

aiohttp answers those before any middleware runs, as text/plain that quotes part of the
offending input (the start of a header, possibly a token). Its server offers no hook for them
(aio-libs/aiohttp#3287), so the protocol's error renderer is replaced once per process by one
that answers in the API's JSON error shape and never echoes the request.
"""

from __future__ import annotations

import logging

from aiohttp import web, web_protocol
from aiohttp.web_request import BaseRequest

from .errors import error_response

log = logging.getLogger("tempstrong.http")

_BY_STATUS = {
    400: ("errors.validation", "The request is malformed."),
    413: ("errors.payloadTooLarge", "The request is too large."),
    414: ("errors.validation", "The request line is too long."),
    431: ("errors.validation", "The request headers are too large."),
    503: ("errors.unavailable", "The service is temporarily unavailable."),
    504: ("errors.unavailable", "The service is temporarily unavailable."),
}


def json_protocol_error(
    handler: web_protocol.RequestHandler,
    request: BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    if request.writer.output_size > 0:
        # part of a response went out already: the connection is broken, as aiohttp does
        raise ConnectionError("Response is sent already, cannot send another response.")
    code, text = _BY_STATUS.get(status, ("errors.internal", "Internal error."))
    if status < 500 and status not in _BY_STATUS:
        code, text = "errors.validation", "The request is malformed."
    log.warning(
        "request refused by the HTTP server",
        extra={"status": status, "error": type(exc).__name__ if exc is not None else None},
    )
    response = error_response(code, text)
    response.set_status(status)
    response.force_close()
    return response


def install_json_protocol_errors() -> None:
    """Idempotent; affects every aiohttp server of this process (the API is the only one)."""
    web_protocol.RequestHandler.handle_error = json_protocol_error  # type: ignore[method-assign,assignment]
