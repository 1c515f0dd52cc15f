"""Issue 18, item 8: a claim outlives the database backend that took it.

Claims were session advisory locks. When the database terminated the backend holding them (a
failover, an operator, the chaos soak's nemesis) while the worker was sending, the locks went
with it; a second copy of the message (a publisher's at-least-once copy, a redelivery after a
RabbitMQ restart) was claimed by another worker or batch loop and mailed again, although no
worker had crashed. Now a claim is a row that lasts as long as its worker is alive (a lease the
worker renews), whatever happens to its connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.delivery.data_keys import TableDataKeys
from service.delivery.dedup import PostgresDedup
from service.delivery.metrics import DeliveryMetrics
from service.delivery.supersession import PostgresSupersession
from service.delivery.worker import Action, DeliveryWorker
from service.domain.policy import SendingMethod
from service.eventstore.keys import MemoryKeyTable
from service.privacy.keyring import new_keyring_document, parse_keyring
from service.security.sealing import Opener, Sealer
from tests.support.delivery_rig import BACKOFF, MAX_ATTEMPTS
from tests.support.envelopes import PersonalKeys, issue, unique
from tests.support.waiting import eventually


class HeldChannel:
    """Accepts every message; the first call waits until `release` is set."""

    def __init__(self) -> None:
        self.sent: list[object] = []
        self.calls = 0
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: object) -> None:
        self.calls += 1
        if self.calls == 1:
            self.sending.set()
            await self.release.wait()
        self.sent.append(message)

    async def close(self) -> None:
        return None


async def _pool(url: str, name: str) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url, min_size=1, max_size=2, server_settings={"application_name": name}
    )
    return pool


async def _terminate(url: str, name: str) -> None:
    """Terminates every backend of the pool named `name`, as a database failover would."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            name,
        )
        # termination is asynchronous: wait until they are gone (and whatever they held)
        await eventually(
            lambda: connection.fetchval(
                "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = $1", name
            )
        )
    finally:
        await connection.close()


@pytest.fixture
async def pools(delivery_database: str, pool: asyncpg.Pool) -> AsyncIterator[dict[str, object]]:
    a, b = unique("worker-a"), unique("worker-b")
    opened = {a: await _pool(delivery_database, a), b: await _pool(delivery_database, b)}
    try:
        yield {"url": delivery_database, "a": a, "b": b, **opened}
    finally:
        for opened_pool in opened.values():
            opened_pool.terminate()


async def test_a_claim_outlives_its_backend(pools: dict) -> None:  # type: ignore[type-arg]
    key = unique("event")
    holder = PostgresDedup(pools[pools["a"]])
    claims = await holder.claim([key])
    assert claims.claimed == {key}
    await _terminate(pools["url"], pools["a"])
    # the holder is alive and sending: another worker must not take the message
    other = await PostgresDedup(pools[pools["b"]]).claim([key])
    assert other.busy == {key} and other.claimed == frozenset()
    await other.finish([])
    await claims.finish([key])  # recorded on a new connection
    later = await PostgresDedup(pools[pools["b"]]).claim([key])
    assert later.delivered == {key}
    await later.finish([])


async def test_a_backend_terminated_mid_send_never_mails_a_second_copy(
    pools: dict,  # type: ignore[type-arg]
    delivery_keys: object,
    sealer: Sealer,
    opener: Opener,
) -> None:
    channel = HeldChannel()

    keys = PersonalKeys(parse_keyring(new_keyring_document()), MemoryKeyTable())

    def worker(pool: asyncpg.Pool) -> DeliveryWorker:
        return DeliveryWorker(
            opener=opener,
            keyring=keys.keyring,
            data_keys=TableDataKeys(keys.table),
            channels={SendingMethod.EMAIL: channel},  # type: ignore[dict-item]
            dedup=PostgresDedup(pool),
            supersession=PostgresSupersession(pool),
            metrics=DeliveryMetrics(),
            max_attempts=MAX_ATTEMPTS,
            backoff=BACKOFF,
        )

    first, second = worker(pools[pools["a"]]), worker(pools[pools["b"]])
    issued = issue(sealer, "Email", email="twice@example.com", keys=keys)
    sending = asyncio.create_task(first.handle(issued.body, issued.message_id, 1))
    await asyncio.wait_for(channel.sending.wait(), 10)
    await _terminate(pools["url"], pools["a"])
    # a second copy of the message (the publisher's at-least-once, a redelivery) meanwhile
    copy = await second.handle(issued.body, issued.message_id, 1)
    assert copy.action is Action.RETRY and channel.calls == 1
    channel.release.set()
    assert (await asyncio.wait_for(sending, 30)).action is Action.ACK
    later = await second.handle(issued.body, issued.message_id, 1)
    assert later.action is Action.ACK
    assert len(channel.sent) == 1
