"""Response bodies: the seed's credential schema, the user body, audit-trail items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..commands.outcomes import UserView
from ..contracts.casing import camel
from ..contracts.credential import SECRET_FIELD, credential_fields
from ..contracts.dates import iso
from ..domain.credential import SECRET_EVENT_ATTRIBUTES, TempStrongPassword
from ..domain.ids import event_id
from ..domain.personal import CREDENTIAL_TEXT_FIELDS, Encrypted
from ..observability.correlation import trace_context_of
from ..observability.tracing import TRACE_CONTEXT_ATTRIBUTE
from ..privacy.personal_data import NOTHING, Revealer

_EVENT_ENVELOPE_ATTRIBUTES = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic"}
)


def credential_body(
    credential: TempStrongPassword,
    now: datetime,
    *,
    temp_strong_password: str | None,
    include_actors: bool,
    revealer: Revealer = NOTHING,
) -> dict[str, Any]:
    """Fields without a value are omitted. `temp_strong_password` is a hash or a fragment; the
    free text about the credential is what `revealer` opens (nothing once its user is erased)."""
    body = credential_fields(credential, now)
    for name in CREDENTIAL_TEXT_FIELDS:
        body[camel(name)] = revealer.reveal(body[camel(name)], credential.id, name)
    body[SECRET_FIELD] = temp_strong_password
    if not include_actors:
        del body["createdBy"], body["modifiedBy"]
    return {k: _jsonable(v) for k, v in body.items() if v is not None}


def user_body(view: UserView) -> dict[str, Any]:
    user, revealer = view.user, view.revealer

    def personal(name: str) -> str | None:
        return revealer.reveal(getattr(user, name), user.id, name)

    body = {
        "extId": user.ext_id,
        "loginId": personal("login_id"),
        "email": personal("email"),
        "mobile": personal("mobile"),
        "language": user.language,
        "created": iso(user.created_on),
        "lastModified": iso(user.modified_on),
        "version": user.version,
    }
    return {k: v for k, v in body.items() if v is not None}


def event_item(domain_event: Any, revealer: Revealer = NOTHING) -> dict[str, Any]:
    """One audit-trail entry; the hash and the sealed envelope are left out, and personal text
    shows only while its person's key is live."""
    data: dict[str, Any] = {}
    for name, value in vars(domain_event).items():
        if name in _EVENT_ENVELOPE_ATTRIBUTES or name in SECRET_EVENT_ATTRIBUTES:
            continue
        if isinstance(value, Encrypted):
            value = revealer.reveal(value, domain_event.originator_id, name)
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
