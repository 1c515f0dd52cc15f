"""What the publisher sends for one stored credential event."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from service.contracts.cloudevents import (
    USER_EVENT_TYPES,
    cloud_event,
    encode,
    routing_key,
    short_type,
    user_erased_event,
    user_routing_key,
)
from service.contracts.envelope import DeliveryEnvelope, StoredDelivery
from service.domain.credential import TempStrongPassword
from service.observability.correlation import correlation_id_of, trace_context_of


class Kind(StrEnum):
    EVENT = "event"  # a CloudEvent on tempstrong.events
    ENVELOPE = "envelope"  # a sealed envelope on tempstrong.delivery


@dataclass(frozen=True)
class Outgoing:
    """One AMQP message; `route` is the routing key of an event, the credential id of an
    envelope (its routing key is fixed)."""

    kind: Kind
    route: str
    message_id: str
    body: bytes
    correlation_id: str | None
    # the W3C trace context the event was stored under (service/observability/tracing.py), if any
    trace_context: dict[str, str] | None = None


def user_messages_for(domain_event: Any) -> list[Outgoing]:
    """A user event consumers are told about (`user.erased`): one CloudEvent."""
    event = user_erased_event(domain_event, trace_context_of(domain_event))
    short = USER_EVENT_TYPES[type(domain_event).__name__]
    return [
        Outgoing(
            Kind.EVENT,
            user_routing_key(domain_event.client_ext_id, short),
            event["id"],
            encode(event),
            correlation_id_of(domain_event),
            trace_context_of(domain_event),
        )
    ]


def messages_for(credential: TempStrongPassword, domain_event: Any) -> list[Outgoing]:
    """The envelope first (the delivery is what the user waits for), then the CloudEvent."""
    correlation_id = correlation_id_of(domain_event)
    trace_context = trace_context_of(domain_event)
    messages = []
    if getattr(domain_event, "delivery", None):
        envelope = DeliveryEnvelope.of_event(
            StoredDelivery.from_event_attribute(domain_event.delivery),
            credential.id,
            domain_event.originator_version,
        )
        messages.append(
            Outgoing(
                Kind.ENVELOPE,
                str(credential.id),
                envelope.message_id,
                envelope.to_body(),
                correlation_id,
                trace_context,
            )
        )
    event = cloud_event(credential, domain_event, trace_context)
    messages.append(
        Outgoing(
            Kind.EVENT,
            routing_key(credential.client_ext_id, short_type(domain_event)),
            event["id"],
            encode(event),
            correlation_id,
            trace_context,
        )
    )
    return messages
