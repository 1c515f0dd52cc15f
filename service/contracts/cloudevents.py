"""The credential events of SPEC section 4 (contract): CloudEvents 1.0, structured JSON.

The `data` of every event is `CredentialEventData`: the credential after the event, without its
password hash, plus `clientExtId`. It has its own type and serializer, on purpose independent of
the REST renderer: a change to an HTTP response never changes what downstream consumers parse.
The AsyncAPI document (asyncapi.py) describes exactly these fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ..domain.credential import CREDENTIAL_TYPE, TempStrongPassword
from ..domain.ids import event_id
from .casing import camel
from .credential import credential_fields
from .dates import iso
from .paths import CREDENTIAL_PATH

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
DATA_CONTENT_TYPE = "application/json"
SPEC_VERSION = "1.0"
TYPE_PREFIX = "ch.nevis.idm.tempstrongpassword."
ROUTING_SEGMENT = "tempstrongpassword"
SOURCE = CREDENTIAL_PATH  # the credential's REST resource

# stored event class name -> the short type of routing keys and CloudEvent types
EVENT_TYPES: dict[str, str] = {
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


def cloud_event_type(short: str) -> str:
    return f"{TYPE_PREFIX}{short}.v1"


def routing_key(client_ext_id: str, short: str) -> str:
    """`<clientExtId>.tempstrongpassword.<type>`: bind `acme.#` or `*.tempstrongpassword.reset`."""
    return f"{client_ext_id}.{ROUTING_SEGMENT}.{short}"


@dataclass(frozen=True)
class CredentialEventData:
    """The `data` of every credential event; None fields are left out of the JSON."""

    created: datetime
    last_modified: datetime
    version: int
    ext_id: str
    user_ext_id: str
    client_ext_id: str
    policy_ext_id: str
    state_name: str
    state_change_reason: str | None
    state_change_detail: str | None
    last_successful_login_date: datetime | None
    successful_login_count: int
    last_failed_login_date: datetime | None
    failed_login_count: int
    modification_comment: str | None
    reset_count: int
    created_by: str | None
    modified_by: str | None
    type: str = CREDENTIAL_TYPE

    @classmethod
    def of(cls, credential: TempStrongPassword, at: datetime) -> CredentialEventData:
        """The credential as it reads at `at` (the event's time: a tmp-lock may have ended)."""
        read = credential_fields(credential, at)
        values = {f.name: read[camel(f.name)] for f in fields(cls) if camel(f.name) in read}
        return cls(**values, client_ext_id=credential.client_ext_id)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name, value in vars(self).items():
            if value is None:
                continue
            document[camel(name)] = iso(value) if isinstance(value, datetime) else value
        return document


def cloud_event(
    credential: TempStrongPassword,
    domain_event: Any,
    trace_context: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The structured CloudEvent of one stored credential event; `trace_context` (the W3C
    trace context the event was stored under) becomes the distributed-tracing extension's
    `traceparent` and `tracestate` attributes."""
    short = short_type(domain_event)
    return {
        "specversion": SPEC_VERSION,
        "id": str(event_id(domain_event.originator_id, domain_event.originator_version)),
        "source": SOURCE.format(
            clientExtId=credential.client_ext_id, userExtId=credential.user_ext_id
        ),
        "type": cloud_event_type(short),
        "subject": credential.ext_id,
        "time": iso(domain_event.timestamp),
        "datacontenttype": DATA_CONTENT_TYPE,
        **(trace_context or {}),
        "data": CredentialEventData.of(credential, domain_event.timestamp).to_json(),
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
