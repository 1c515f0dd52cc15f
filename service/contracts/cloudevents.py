"""The credential events (a contract: docs/asyncapi.yaml): CloudEvents 1.0, structured JSON.

The `data` of every event is `CredentialEventData`: the credential after the event, without its
password hash and without the free text about it (`modificationComment`, `stateChangeDetail`:
personal data, which a consumer reads from the API while its person is not erased), plus
`clientExtId`. It has its own type and serializer, on purpose independent of
the REST renderer: a change to an HTTP response never changes what downstream consumers parse.
The AsyncAPI document (asyncapi.py) describes exactly these fields.

When a person's data is erased, `user.erased` (`UserErasedData`: which user, and when) tells every
consumer to erase its own copies.
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
from .paths import CREDENTIAL_PATH, USER_PATH

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


# the user events consumers are sent: stored event class name -> short type
USER_EVENT_TYPES: dict[str, str] = {"UserErased": "erased"}
USER_TYPE_PREFIX = "ch.nevis.idm.user."
USER_ROUTING_SEGMENT = "user"
USER_SOURCE = USER_PATH  # the user's REST resource


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
    last_successful_login_date: datetime | None
    successful_login_count: int
    last_failed_login_date: datetime | None
    failed_login_count: int
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
    return _structured(
        domain_event,
        SOURCE.format(clientExtId=credential.client_ext_id, userExtId=credential.user_ext_id),
        cloud_event_type(short_type(domain_event)),
        credential.ext_id,
        trace_context,
        CredentialEventData.of(credential, domain_event.timestamp).to_json(),
    )


def user_event_type(short: str) -> str:
    return f"{USER_TYPE_PREFIX}{short}.v1"


def user_routing_key(client_ext_id: str, short: str) -> str:
    """`<clientExtId>.user.<type>`: `acme.user.erased`; `#` and `acme.#` bindings get them too."""
    return f"{client_ext_id}.{USER_ROUTING_SEGMENT}.{short}"


@dataclass(frozen=True)
class UserErasedData:
    """The `data` of `user.erased`: no personal data, only whom to forget and since when."""

    client_ext_id: str
    user_ext_id: str
    erased_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "clientExtId": self.client_ext_id,
            "userExtId": self.user_ext_id,
            "erasedAt": iso(self.erased_at),
        }


def user_erased_event(
    domain_event: Any, trace_context: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The CloudEvent of a stored `UserErased` event."""
    client, user = domain_event.client_ext_id, domain_event.ext_id
    return _structured(
        domain_event,
        USER_SOURCE.format(clientExtId=client, userExtId=user),
        user_event_type(USER_EVENT_TYPES[type(domain_event).__name__]),
        user,
        trace_context,
        UserErasedData(client, user, domain_event.timestamp).to_json(),
    )


def _structured(
    domain_event: Any,
    source: str,
    event_type: str,
    subject: str,
    trace_context: Mapping[str, str] | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """A stored event as a structured CloudEvent; the trace context is the distributed-tracing
    extension's `traceparent` and `tracestate`."""
    return {
        "specversion": SPEC_VERSION,
        "id": str(event_id(domain_event.originator_id, domain_event.originator_version)),
        "source": source,
        "type": event_type,
        "subject": subject,
        "time": iso(domain_event.timestamp),
        "datacontenttype": DATA_CONTENT_TYPE,
        **(trace_context or {}),
        "data": data,
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
