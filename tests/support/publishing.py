"""A publisher against a database and a RabbitMQ vhost of its own, with a queue bound to every
credential event, for tests of the event and envelope contracts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
from prometheus_client import CollectorRegistry

from projections.folding import CredentialCache
from projections.follower import Follower, FollowerMetrics
from projections.publisher.amqp import AmqpTransport
from projections.publisher.messages import Outgoing
from projections.publisher.sink import (
    PostgresTracking,
    PublisherMetrics,
    PublisherSink,
    ensure_schema,
)
from service.commands.facade import Commands, utc_now
from service.config import Settings
from service.contracts.topology import DELIVERY_QUEUE, EVENTS_EXCHANGE
from service.eventstore.application import EventStoreApp, postgres_env
from service.eventstore.notifications import PostgresNotifications
from service.eventstore.threaded import ThreadedStore
from service.privacy.personal_data import PersonalData
from service.queries.facade import Queries
from service.rabbitmq.topology import declare_topology
from service.roots.parts import build_commands, build_keyring
from service.roots.policies import load_policy_file
from tests.support.amqp import create_vhost, delete_vhost
from tests.support.database import create_database, drop_database, url_for
from tests.support.proxy import TcpProxy

TEST_EVENTS_QUEUE = "test-events"


class RefusingTransport:
    """The real transport, except that the messages `refuse(message)` picks are refused like a
    broker's nack refuses one message (the others go to the broker)."""

    def __init__(self, inner: AmqpTransport, refuse: Callable[[Outgoing], bool]) -> None:
        self.inner = inner
        self.refuse = refuse

    async def publish(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        accepted = [m for m in messages if not self.refuse(m)]
        sent = iter(await self.inner.publish(accepted) if accepted else [])
        return [
            aio_pika.exceptions.DeliveryError(None, None)  # type: ignore[arg-type]
            if self.refuse(m)
            else next(sent)
            for m in messages
        ]


@dataclass
class PublishingWorld:
    database_url: str
    amqp_url: str
    commands: Commands
    queries: Queries
    store: EventStoreApp
    channel: Any
    events: Any
    follower: Follower
    registry: CollectorRegistry
    pool: asyncpg.Pool
    transport: Any
    running: _Running
    # the publisher reaches RabbitMQ through it: cut it to play a broker outage for this
    # publisher alone (RabbitMQ itself keeps serving every other test)
    broker_link: TcpProxy
    extra: dict[str, Any] = field(default_factory=dict)

    async def delivery_queue(self) -> Any:
        return await self.channel.get_queue(DELIVERY_QUEUE)

    async def restart_publisher(self, meanwhile: Callable[[], object] = lambda: None) -> None:
        """Stops the publisher, calls `meanwhile`, and starts a new one (nothing kept in
        memory), as a new process would."""
        await self.running.stop()
        meanwhile()
        self.running = self.running.again()
        self.follower = self.running.follower

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0


@dataclass
class _Running:
    """A publisher's follower loop, and how to start another like it."""

    start: Callable[[], Follower]
    follower: Follower = field(init=False)
    _stop: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _task: asyncio.Task[None] = field(init=False)

    def __post_init__(self) -> None:
        self.follower = self.start()
        self._task = asyncio.create_task(self.follower.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        await self._task

    def again(self) -> _Running:
        return _Running(self.start)


@contextlib.asynccontextmanager
async def publishing_world(
    settings: Settings,
    hash_key: bytes,
    *,
    refuse: Callable[[Outgoing], bool] | None = None,
    **sink_options: Any,
) -> AsyncIterator[PublishingWorld]:
    name = await create_database("tempstrong_pub")
    url = url_for(name)
    vhost, amqp_url = await asyncio.to_thread(create_vhost)
    store = await asyncio.to_thread(EventStoreApp, env=postgres_env(url, create_table=True))
    assert settings.policy_file
    threaded_store = ThreadedStore(store)
    # the library's own write path (dev mode's), against PostgreSQL
    catalog = load_policy_file(settings.policy_file, hash_key)
    personal = PersonalData(build_keyring(settings), threaded_store)
    commands = build_commands(settings, threaded_store, catalog, utc_now, personal)
    queries = Queries(threaded_store, catalog, personal, None, utc_now)
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await declare_topology(channel)
    # durable, so it outlives a broker restart in the outage test
    events_queue = await channel.declare_queue(TEST_EVENTS_QUEUE, durable=True)
    await events_queue.bind(EVENTS_EXCHANGE, routing_key="#")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=3)
    await ensure_schema(pool)
    source = PostgresNotifications(url)
    parts = urlsplit(amqp_url)
    broker_link = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await broker_link.start()
    credentials = f"{parts.username}:{parts.password}"
    linked = parts._replace(netloc=f"{credentials}@127.0.0.1:{broker_link.port}")
    amqp = AmqpTransport(urlunsplit(linked))
    transport: Any = amqp if refuse is None else RefusingTransport(amqp, refuse)
    registry = CollectorRegistry()
    publisher_metrics = PublisherMetrics(registry)
    follower_metrics = FollowerMetrics(registry)

    def start() -> Follower:
        sink = PublisherSink(
            PostgresTracking(pool),
            store.mapper,
            CredentialCache(threaded_store.get_at),
            transport,
            publisher_metrics,
            **sink_options,
        )
        return Follower(source, sink, follower_metrics)

    running = _Running(start)
    world = PublishingWorld(
        url,
        amqp_url,
        commands,
        queries,
        store,
        channel,
        events_queue,
        running.follower,
        registry,
        pool,
        transport,
        running,
        broker_link,
    )
    try:
        yield world
    finally:
        await world.running.stop()
        await amqp.close()
        await broker_link.cut()
        await source.close()
        await pool.close()
        with contextlib.suppress(Exception):
            await connection.close()
        await asyncio.to_thread(store.close)
        await asyncio.to_thread(delete_vhost, vhost)
        await drop_database(name)


async def drain(queue: Any, expected: int, timeout: float = 30) -> list[Any]:
    """At least `expected` messages (or what came within `timeout`), plus any that follow soon."""
    messages = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(messages) < expected and asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        messages.append(message)
    # anything more than expected is a duplicate
    await asyncio.sleep(0.3)
    while (extra := await queue.get(no_ack=True, fail=False)) is not None:
        messages.append(extra)
    return messages
