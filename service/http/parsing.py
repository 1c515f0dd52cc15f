"""Request parsing: path parameters, JSON bodies with declared fields, Idempotency-Key."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..domain.addresses import (
    EMAIL_MAX_LENGTH,
    LANGUAGE_MAX_LENGTH,
    is_valid_email,
    is_valid_language,
    is_valid_mobile,
)
from ..domain.states import CredentialState
from ..domain.validation import CLIENT_EXT_ID, EXT_ID, EXT_ID_RULE
from .errors import ApiError

MAX_BODY_BYTES = 64 * 1024
_JSON_TYPES = ("application/json", "application/problem+json")
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
COMMENT_MAX = 1024
PASSWORD_MAX = 1024
INT_MAX = 2**31 - 1  # integer fields are non-negative 32-bit


def invalid(message: str) -> ApiError:
    return ApiError("errors.validation", message)


def path_ids(request: web.Request) -> tuple[str, str | None]:
    client = request.match_info["clientExtId"]
    if not CLIENT_EXT_ID.fullmatch(client):
        raise invalid("clientExtId must match [A-Za-z0-9_-]{1,64}.")
    user = request.match_info.get("userExtId")
    if user is not None and not EXT_ID.fullmatch(user):
        raise invalid(f"userExtId must match {EXT_ID_RULE}.")
    return client, user


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise invalid("Idempotency-Key must be 1..255 visible ASCII characters.")
    return key


@dataclass(frozen=True)
class Field:
    """One request body field: what `json_body` accepts, and what the OpenAPI document says."""

    kind: type
    pattern: re.Pattern[str] | None = None
    max_length: int | None = None
    choices: frozenset[str] | None = None
    required: bool = False
    check: Callable[[str], bool] | None = None
    description: str | None = None


STATE_NAMES = frozenset(s.value for s in CredentialState)


async def json_body(request: web.Request, fields: dict[str, Field]) -> dict[str, Any]:
    """The body as a dict of declared, type-checked fields; unknown fields are refused."""
    raw = await request.read()
    if not raw.strip():
        document: Any = {}
    else:
        content_type = request.headers.get("Content-Type")
        if content_type is not None and not (
            request.content_type in _JSON_TYPES or request.content_type.endswith("+json")
        ):
            raise ApiError("errors.unsupportedMediaType", "The body must be JSON.")
        try:
            document = _strict_json(raw)
        except _DuplicateKey as exc:
            # a declared field's name is public; any other key is the caller's text, like a value
            named = f": {exc.key}" if exc.key in fields else ""
            raise invalid(f"The body has a duplicated key{named}.") from None
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[...
            raise invalid("The body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise invalid("The body must be a JSON object.")
    return checked_fields(document, fields)


def checked_fields(document: dict[str, Any], fields: dict[str, Field]) -> dict[str, Any]:
    """The declared, type-checked fields of a JSON object; unknown fields are refused (ApiError
    `errors.validation`, whose message names the field, never its value)."""
    unknown = sorted(set(document) - set(fields))
    if unknown:
        raise invalid(f"Unknown field(s): {', '.join(unknown)}.")
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        value = document.get(name)
        if value is None:
            if spec.required:
                raise invalid(f"Field {name} is required.")
            continue
        values[name] = _check(name, value, spec)
    return values


def strict_json(raw: bytes | str) -> Any:
    """json.loads refusing a duplicated key at any depth (ApiError `errors.validation`)."""
    try:
        return _strict_json(raw)
    except _DuplicateKey:
        raise invalid("The JSON has a duplicated key.") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid("The JSON is not valid.") from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__("duplicated key")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different. Python keeps the last of a duplicated key, a
    proxy or WAF may keep the first: refusing both is the only reading they share."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


def _strict_json(raw: bytes | str) -> Any:
    """json.loads, refusing a duplicated key in any object at any depth (_DuplicateKey)."""
    return json.loads(raw, object_pairs_hook=_unique_keys)


def _check(name: str, value: Any, spec: Field) -> Any:
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
            raise invalid(f"Field {name} must be a non-negative 32-bit integer.")
        return value
    if not isinstance(value, str):
        raise invalid(f"Field {name} must be a string.")
    if not value.isascii() and not _is_unicode_text(value):
        raise invalid(f"Field {name} must be valid Unicode text.")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise invalid(f"Field {name} must be at most {spec.max_length} characters.")
    if spec.pattern is not None and not spec.pattern.fullmatch(value):
        raise invalid(f"Field {name} has an invalid format.")
    if spec.check is not None and not spec.check(value):
        raise invalid(f"Field {name} has an invalid format.")
    if spec.choices is not None and value not in spec.choices:
        raise invalid(f"Field {name} must be one of: {', '.join(sorted(spec.choices))}.")
    return value


def _is_unicode_text(value: str) -> bool:
    """False for a lone surrogate (JSON allows "\\ud800"; UTF-8 and the event store do not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


USER_FIELDS = {
    "extId": Field(str, EXT_ID, required=True, description="The external ID of the user."),
    "loginId": Field(str, EXT_ID, description="The login ID of the user."),
    "email": Field(
        str,
        max_length=EMAIL_MAX_LENGTH,
        check=is_valid_email,
        description="Where Email policies send the password (a bare mailbox, local@domain).",
    ),
    "mobile": Field(
        str, check=is_valid_mobile, description="Where SMS policies send the password (E.164)."
    ),
    "language": Field(
        str,
        max_length=LANGUAGE_MAX_LENGTH,
        check=is_valid_language,
        description="The language of the messages sent to the user (a BCP 47 tag).",
    ),
}
CREATE_CREDENTIAL_FIELDS = {
    "extId": Field(
        str,
        EXT_ID,
        description="The external ID of the credential (unique per client; a UUID when omitted).",
    ),
    "policyExtId": Field(
        str, EXT_ID, description="One of the client's policies (the client's default when omitted)."
    ),
    "stateName": Field(
        str,
        choices=STATE_NAMES,
        description="The initial state (`initial` when omitted; needs "
        "AccessControl.CredentialChangeState; never a locked state).",
    ),
}
PATCH_CREDENTIAL_FIELDS = {
    "version": Field(
        int, required=True, description="The version the change is based on (optimistic locking)."
    ),
    "stateName": Field(
        str, choices=STATE_NAMES, description="The new state (never a locked state)."
    ),
    "policyExtId": Field(str, EXT_ID, description="Another of the client's policies."),
    "modificationComment": Field(
        str, max_length=COMMENT_MAX, description="Textual comment regarding the modification."
    ),
}
VERIFY_FIELDS = {
    "password": Field(
        str,
        max_length=PASSWORD_MAX,
        required=True,
        description="The whole password: fragment0 followed by fragment1.",
    )
}
# The reset takes no fields; a body sent all the same is checked like any other (413, 415, 400).
RESET_FIELDS: dict[str, Field] = {}


DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000


@dataclass(frozen=True)
class PageRequest:
    state_name: str | None
    limit: int
    after_user: str | None


def page_request(request: web.Request) -> PageRequest:
    query = request.query
    unknown = sorted(set(query) - {"stateName", "limit", "continuationToken"})
    if unknown:
        raise invalid(f"Unknown query parameter(s): {', '.join(unknown)}.")
    raw_limit = query.get("limit", str(DEFAULT_PAGE_LIMIT))
    # isdigit() alone also accepts superscripts and non-ASCII digits; int() refuses > 4300 digits
    is_number = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 4
    if not is_number or not 1 <= int(raw_limit) <= MAX_PAGE_LIMIT:
        raise invalid(f"limit must be an integer from 1 to {MAX_PAGE_LIMIT}.")
    state_name = query.get("stateName") or None
    if state_name is not None and state_name not in STATE_NAMES:
        raise invalid(f"stateName must be one of: {', '.join(sorted(STATE_NAMES))}.")
    token = query.get("continuationToken")
    after_user = decode_continuation(token) if token else None
    return PageRequest(state_name, int(raw_limit), after_user)


def encode_continuation(after_user: str) -> str:
    raw = json.dumps({"v": 1, "after": after_user}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continuation(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        document = _strict_json(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, RecursionError):
        raise invalid("continuationToken is not valid.") from None
    if not isinstance(document, dict):
        raise invalid("continuationToken is not valid.")
    after = document.get("after")
    if document.get("v") != 1 or not isinstance(after, str) or not EXT_ID.fullmatch(after):
        raise invalid("continuationToken is not valid.")
    return after
