"""`tempstrong republish <event id>`: publish a parked event again, through the same code."""

from __future__ import annotations

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
    """The event is not parked, or publishing failed again; the message says which."""


async def republish(
    event_id: UUID,
    pool: asyncpg.Pool,
    notifications: PostgresNotifications,
    store: PostgresStore,
    mapper: Mapper[UUID],
    transport: Transport,
) -> int:
    """Publishes the parked event's messages with confirms, then marks it republished.

    Returns how many messages were confirmed. The event arrives after later events of its
    credential; consumers order by `data.version`.
    """
    parked = await find(pool, PUBLISHER_NAME, event_id)
    if parked is None:
        raise RepublishRefused(f"no parked event {event_id}")
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
        await transport.publish(messages)
    except Exception as exc:
        reason = f"event {event_id} was not published ({type(exc).__name__})"
        raise RepublishRefused(reason) from None
    await mark_republished(pool, PUBLISHER_NAME, event_id)
    return len(messages)
