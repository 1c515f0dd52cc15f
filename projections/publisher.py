"""The publisher: a follower whose "view" publishes each credential event, then tracks.

At least once and in per-credential order: a batch is published in notification order on one
channel, the position advances only after the broker confirmed every message of the batch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper, Notification
from prometheus_client import CollectorRegistry, Counter

from service.correlation import correlation_id_of
from service.domain.credential import TempStrongPassword

from .cloudevents import cloud_event, routing_key
from .credential_states import CredentialCache, credential_events, timestamp_of
from .credentials_pg import TRACKING_TABLE

PUBLISHER_NAME = "publisher"


@dataclass(frozen=True)
class Outgoing:
    """A CloudEvent (`route` = routing key) or a sealed envelope (`route` = credential id)."""

    route: str
    message_id: str
    body: bytes
    correlation_id: str | None


class Transport(Protocol):
    """Where messages go: RabbitMQ in production, an in-process queue in dev mode."""

    async def publish_events(self, messages: Sequence[Outgoing]) -> None:
        """CloudEvents by routing key, confirmed before returning."""

    async def publish_envelopes(self, envelopes: Sequence[Outgoing]) -> None:
        """Sealed envelopes for the delivery worker, confirmed before returning."""


class PublisherMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "tempstrong_published_total",
            "Messages confirmed by the broker, by kind (event, envelope)",
            ["kind"],
            registry=registry,
        )


def envelope_message(credential: TempStrongPassword, domain_event: Any) -> Outgoing:
    return Outgoing(
        route=str(credential.id),
        message_id=f"{credential.ext_id}:{domain_event.originator_version}",
        body=json.dumps(domain_event.delivery, separators=(",", ":")).encode(),
        correlation_id=correlation_id_of(domain_event),
    )


def event_message(credential: TempStrongPassword, domain_event: Any) -> Outgoing:
    message = cloud_event(credential, domain_event)
    return Outgoing(
        route=routing_key(credential, domain_event),
        message_id=message["id"],
        body=json.dumps(message, separators=(",", ":")).encode(),
        correlation_id=correlation_id_of(domain_event),
    )


class PublisherSink:
    name = PUBLISHER_NAME

    def __init__(
        self,
        tracking: PublisherTracking,
        mapper: Mapper[UUID],
        states: CredentialCache,
        transport: Transport,
        metrics: PublisherMetrics,
    ) -> None:
        self._tracking = tracking
        self._mapper = mapper
        self._states = states
        self._transport = transport
        self._metrics = metrics

    async def position(self) -> int:
        return await self._tracking.position()

    async def handle(self, batch: Sequence[Notification]) -> float | None:
        events: list[Outgoing] = []
        envelopes: list[Outgoing] = []
        decoded = credential_events(self._mapper, batch)
        for _, domain_event in decoded:
            credential = await asyncio.to_thread(self._states.after, domain_event)
            events.append(event_message(credential, domain_event))
            if getattr(domain_event, "delivery", None):
                envelopes.append(envelope_message(credential, domain_event))
        if envelopes:
            await self._transport.publish_envelopes(envelopes)
            self._metrics.published.labels("envelope").inc(len(envelopes))
        if events:
            await self._transport.publish_events(events)
            self._metrics.published.labels("event").inc(len(events))
        await self._tracking.record(batch[-1].id)
        return timestamp_of(decoded[-1][1]) if decoded else None


class PublisherTracking(Protocol):
    async def position(self) -> int: ...

    async def record(self, position: int) -> None: ...


class PostgresTracking:
    def __init__(self, pool: asyncpg.Pool, name: str = PUBLISHER_NAME) -> None:
        self._pool = pool
        self._name = name

    async def ensure(self) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(7453001)")
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} "
                "(name text PRIMARY KEY, position bigint NOT NULL)"
            )
            await connection.execute(
                f"INSERT INTO {TRACKING_TABLE} (name, position) VALUES ($1, 0) "  # noqa: S608
                "ON CONFLICT (name) DO NOTHING",
                self._name,
            )

    async def position(self) -> int:
        value = await self._pool.fetchval(
            f"SELECT position FROM {TRACKING_TABLE} WHERE name = $1",  # noqa: S608
            self._name,
        )
        return int(value or 0)

    async def record(self, position: int) -> None:
        await self._pool.execute(
            f"UPDATE {TRACKING_TABLE} SET position = GREATEST(position, $2) "  # noqa: S608
            "WHERE name = $1",
            self._name,
            position,
        )


class MemoryTracking:
    """Dev mode: the in-process queue is lost on restart anyway, so is the position."""

    def __init__(self, start: int = 0) -> None:
        self._position = start

    async def position(self) -> int:
        return self._position

    async def record(self, position: int) -> None:
        self._position = max(self._position, position)
