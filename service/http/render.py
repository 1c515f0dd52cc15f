"""Response bodies: the seed's credential schema, the user body, audit-trail items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..contracts.dates import iso
from ..domain.credential import CREDENTIAL_TYPE, SECRET_EVENT_ATTRIBUTES, TempStrongPassword
from ..domain.ids import event_id
from ..domain.user import User

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
    state, reason = credential.effective_state(now)
    body: dict[str, Any] = {
        "created": iso(credential.created_on),
        "lastModified": iso(credential.modified_on),
        "version": credential.version,
        "extId": credential.ext_id,
        "userExtId": credential.user_ext_id,
        "policyExtId": credential.policy_ext_id,
        "stateName": state.value,
        "stateChangeReason": reason.value if reason else None,
        "stateChangeDetail": credential.state_change_detail,
        "lastSuccessfulLoginDate": _iso_or_none(credential.last_successful_login),
        "successfulLoginCount": credential.successful_login_count,
        "lastFailedLoginDate": _iso_or_none(credential.last_failed_login),
        "failedLoginCount": credential.failed_login_count,
        "modificationComment": credential.modification_comment,
        "type": CREDENTIAL_TYPE,
        "tempStrongPassword": temp_strong_password,
        "resetCount": credential.reset_count,
    }
    if include_actors:
        body["createdBy"] = credential.created_by
        body["modifiedBy"] = credential.modified_by
    return {k: v for k, v in body.items() if v is not None}


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
        data[_camel(name)] = _jsonable(value)
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


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value


def _iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None
