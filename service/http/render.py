"""Response bodies: the seed's credential schema, the user body, audit-trail items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..contracts.casing import camel
from ..contracts.credential import SECRET_FIELD, credential_fields
from ..contracts.dates import iso
from ..domain.credential import SECRET_EVENT_ATTRIBUTES, TempStrongPassword
from ..domain.ids import event_id
from ..domain.user import User
from ..observability.correlation import trace_context_of
from ..observability.tracing import TRACE_CONTEXT_ATTRIBUTE

_EVENT_ENVELOPE_ATTRIBUTES = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic"}
)


def credential_body(
    credential: TempStrongPassword,
    now: datetime,
    *,
    temp_strong_password: str | None,
    include_actors: bool,
) -> dict[str, Any]:
    """Fields without a value are omitted. `temp_strong_password` is a hash or a fragment."""
    body = credential_fields(credential, now)
    body[SECRET_FIELD] = temp_strong_password
    if not include_actors:
        del body["createdBy"], body["modifiedBy"]
    return {k: _jsonable(v) for k, v in body.items() if v is not None}


def user_body(user: User) -> dict[str, Any]:
    body = {
        "extId": user.ext_id,
        "loginId": user.login_id,
        "email": user.email,
        "mobile": user.mobile,
        "language": user.language,
        "created": iso(user.created_on),
        "lastModified": iso(user.modified_on),
        "version": user.version,
    }
    return {k: v for k, v in body.items() if v is not None}


def event_item(domain_event: Any) -> dict[str, Any]:
    """One audit-trail entry; the hash and the sealed envelope are left out."""
    data: dict[str, Any] = {}
    for name, value in vars(domain_event).items():
        if name in _EVENT_ENVELOPE_ATTRIBUTES or name in SECRET_EVENT_ATTRIBUTES:
            continue
        if name == TRACE_CONTEXT_ATTRIBUTE:  # one stored before it was bounded: only if valid
            value = trace_context_of(domain_event)
        data[camel(name)] = _jsonable(value)
    delivery = getattr(domain_event, "delivery", None)
    if isinstance(delivery, dict):
        data["sendingMethod"] = delivery.get("sendingMethod")
    return {
        "id": str(event_id(domain_event.originator_id, domain_event.originator_version)),
        "type": type(domain_event).__name__,
        "version": domain_event.originator_version,
        "time": iso(domain_event.timestamp),
        "data": {k: v for k, v in data.items() if v is not None},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value
