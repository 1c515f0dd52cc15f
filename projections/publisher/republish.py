"""`tempstrong republish <event id>`: publish a parked event again, through the same code.

An event that was republished before is refused unless `again` is given: each republish puts
one more copy of the CloudEvent before consumers (and of the envelope before the delivery
worker, which deduplicates it by the event id: never a second mail).
"""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper

from service.domain.credential import TempStrongPassword
from service.eventstore.notifications import PostgresNotifications
from service.eventstore.postgres import PostgresStore

from ..folding import fold
from ..parking import find, mark_republished
from .messages import messages_for, user_messages_for
from .sink import PUBLISHER_NAME, Transport


class RepublishRefused(Exception):
    """The event is not parked, was republished already, or publishing failed again; the
    message says which."""


async def republish(
    event_id: UUID,
    pool: asyncpg.Pool,
    notifications: PostgresNotifications,
    store: PostgresStore,
    mapper: Mapper[UUID],
    transport: Transport,
    *,
    again: bool = False,
) -> int:
    """Publishes the parked event's messages with confirms, then marks it republished.

    Returns how many messages were confirmed. The event arrives after later events of its
    credential; consumers order by `data.version`.
    """
    parked = await find(pool, PUBLISHER_NAME, event_id)
    if parked is None:
        raise RepublishRefused(f"no parked event {event_id}")
    if parked.held:
        raise RepublishRefused(
            f"event {event_id} is not parked yet: the publisher is still retrying it"
        )
    if parked.republished_at is not None and not again:
        when = parked.republished_at.astimezone(UTC).isoformat(timespec="seconds")
        raise RepublishRefused(
            f"event {event_id} was already republished at {when}; "
            "--again publishes it once more (consumers get another copy, never a second mail)"
        )
    (notification,) = await notifications.read_after(parked.notification_id - 1, 1)
    try:
        domain_event = mapper.to_domain_event(notification)
        if isinstance(domain_event, TempStrongPassword.Event):
            previous = (
                await store.get_at(domain_event.originator_id, notification.originator_version - 1)
                if notification.originator_version > 1
                else None
            )
            messages = messages_for(fold(previous, domain_event), domain_event)  # type: ignore[arg-type]
        else:
            messages = user_messages_for(domain_event)
    except Exception as exc:
        reason = f"event {event_id} still cannot be encoded ({type(exc).__name__})"
        raise RepublishRefused(reason) from None
    try:
        refusals = [r for r in await transport.publish(messages) if r is not None]
    except Exception as exc:
        refusals = [exc]
    if refusals:
        reason = f"event {event_id} was not published ({type(refusals[0]).__name__})"
        raise RepublishRefused(reason)
    await mark_republished(pool, PUBLISHER_NAME, event_id)
    return len(messages)
