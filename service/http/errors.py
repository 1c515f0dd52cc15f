"""The one mapping from error codes to HTTP statuses, and the `{"errors":[...]}` shape."""

from __future__ import annotations

from aiohttp import web

STATUS_BY_CODE: dict[str, int] = {
    "errors.validation": 400,
    "errors.unauthorized": 401,
    "errors.invalidCredential": 401,
    "errors.forbidden": 403,
    "errors.noRecord": 404,
    "errors.methodNotAllowed": 405,
    "errors.conflict": 409,
    "errors.alreadyExists": 409,
    "errors.payloadTooLarge": 413,
    "errors.unsupportedMediaType": 415,
    "errors.maxResetCountReached": 422,
    "errors.idempotencyKeyReused": 422,
    "errors.credentialArchived": 422,
    "errors.policyNotAllowed": 422,
    "errors.stateNotAllowed": 422,
    "errors.missingDeliveryAddress": 422,
    "errors.deliveryNotConfigured": 422,
    "errors.credentialLocked": 423,
    "errors.credentialNotUsable": 423,
    "errors.internal": 500,
    "errors.unavailable": 503,
}


class ApiError(Exception):
    """Raised by the HTTP layer itself (parsing, auth); rendered by the error middleware."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"errors": [{"code": code, "message": message}]},
        status=STATUS_BY_CODE.get(code, 400),
        headers=headers,
    )
