"""CloudEvents 1.0 structured messages for downstream consumers (SPEC section 4, contract)."""

from __future__ import annotations

from typing import Any

from service.domain.credential import TempStrongPassword
from service.domain.ids import event_id
from service.http.dates import iso
from service.http.render import credential_body

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
EVENT_TYPES = {
    "TempStrongPasswordCreated": "created",
    "TempStrongPasswordReset": "reset",
    "LoginSucceeded": "login-succeeded",
    "LoginFailed": "login-failed",
    "StateChanged": "state-changed",
    "PolicyChanged": "policy-changed",
    "TempStrongPasswordDeleted": "deleted",
}


def short_type(domain_event: Any) -> str:
    return EVENT_TYPES[type(domain_event).__name__]


def routing_key(credential: TempStrongPassword, domain_event: Any) -> str:
    return f"{credential.client_ext_id}.tempstrongpassword.{short_type(domain_event)}"


def cloud_event(credential: TempStrongPassword, domain_event: Any) -> dict[str, Any]:
    """The message for one stored event; `data` is the credential after it, without secrets."""
    client, user = credential.client_ext_id, credential.user_ext_id
    data = credential_body(
        credential, domain_event.timestamp, temp_strong_password=None, include_actors=True
    )
    data["clientExtId"] = client
    return {
        "specversion": "1.0",
        "id": str(event_id(domain_event.originator_id, domain_event.originator_version)),
        "source": f"/nevisidm/api/core/v1/{client}/users/{user}/tempstrong-password",
        "type": f"ch.nevis.idm.tempstrongpassword.{short_type(domain_event)}.v1",
        "subject": credential.ext_id,
        "time": iso(domain_event.timestamp),
        "datacontenttype": "application/json",
        "data": data,
    }
