"""The chaos soak (issue 11): two API processes, the projector, the publisher and the delivery
worker under load from several clients while a nemesis kills and restarts processes, restarts
RabbitMQ's application and terminates database backends. Then, with everything quiet, the
invariants: acknowledged writes stored and nothing else, every event published at least once
in per-credential order, the read model equal to the aggregates, one delivery per reset that
was not superseded (duplicates only in the documented crash window, counted), no 500, and no
parked event but the poison one the test injected.

Runs in `.ci/run` (about two minutes); TEMPSTRONG_SOAK_SECONDS sets the loaded phase.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from uuid import UUID

import aio_pika
import aiohttp
import asyncpg
import pytest

from projections.parking import PARKED_TABLE
from service.contracts.topology import EVENTS_EXCHANGE
from service.domain.ids import event_id
from service.eventstore.application import event_mapper
from service.rabbitmq.topology import declare_topology
from service.security.sealing import Opener
from tests.soak.invariants import (
    check_deliveries,
    check_published,
    queue_depths,
    queue_details,
    read_store,
)
from tests.soak.nemesis import Nemesis
from tests.soak.processes import Fleet, Managed
from tests.soak.workload import Workload
from tests.support.amqp import create_vhost, delete_vhost, start_broker
from tests.support.cluster import admin_token
from tests.support.process import api_env, free_port, run
from tests.support.sinks import SmtpSink

pytestmark = pytest.mark.soak

LOADED_SECONDS = float(os.environ.get("TEMPSTRONG_SOAK_SECONDS", "75"))
QUIET_TIMEOUT_SECONDS = 90.0
USERS_PER_CLIENT = 25
CALLERS = 8
PREFETCH = 8
CONSUMER_QUEUE = "soak-consumer"


async def test_chaos_soak(
    tmp_path: Path, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    vhost, amqp_url = await asyncio.to_thread(create_vhost)
    sink = SmtpSink()
    sink.start()
    fleet = Fleet(tmp_path)
    report: list[str] = []
    try:
        await _soak(tmp_path, fresh_database, amqp_url, vhost, sink, fleet, report)
    finally:
        exits = fleet.stop_all()
        sink.stop()
        await asyncio.to_thread(start_broker)  # whatever the nemesis left
        await asyncio.to_thread(delete_vhost, vhost)
        with capsys.disabled():  # the counts belong in every run's output, not only a failure's
            print("\n".join(["", "chaos soak:", *report, f"  exit statuses: {exits}"]))


async def _soak(
    workdir: Path,
    database_url: str,
    amqp_url: str,
    vhost: str,
    sink: SmtpSink,
    fleet: Fleet,
    report: list[str],
) -> None:
    env = {
        "TEMPSTRONG_DATABASE_URL": database_url,
        "TEMPSTRONG_AMQP_URL": amqp_url,
        "TEMPSTRONG_SMTP_URL": sink.url,
        "TEMPSTRONG_DELIVERY_BACKOFF_SECONDS": "0.5",
        "TEMPSTRONG_DELIVERY_BACKOFF_CAP_SECONDS": "2",
        "TEMPSTRONG_DELIVERY_PREFETCH": str(PREFETCH),
    }
    migrated = await asyncio.to_thread(run, ["migrate"], env, workdir)
    assert migrated.returncode == 0, migrated.stderr
    env.update(api_env(workdir, 0))
    del env["TEMPSTRONG_HTTP_PORT"]  # each API gets its own below
    env["TEMPSTRONG_DELIVERY_PRIVATE_KEY"] = (workdir / "k" / "delivery-private.key").read_text()
    consumer = await aio_pika.connect(amqp_url)
    channel = await consumer.channel()
    await declare_topology(channel)
    events = await channel.declare_queue(CONSUMER_QUEUE, durable=True)
    await events.bind(EVENTS_EXCHANGE, routing_key="#")
    await consumer.close()

    poison = await _inject_poison(database_url)
    api_ports = [free_port(), free_port()]
    for index, port in enumerate(api_ports):
        fleet.add(_member(workdir, f"api-{index}", ["api"], env, port, "TEMPSTRONG_HTTP_PORT"))
    for name in ("projector", "publisher", "delivery"):
        fleet.add(_member(workdir, name, [name], env, free_port(), "TEMPSTRONG_METRICS_PORT"))
    await asyncio.to_thread(fleet.wait_ready)

    workload = Workload([f"http://127.0.0.1:{p}" for p in api_ports], admin_token(workdir))
    nemesis = Nemesis(fleet, database_url, seed=int(time.time()))
    headers = {"X-Token": workload.token}
    async with aiohttp.ClientSession(headers=headers) as session:
        await workload.prepare(session, USERS_PER_CLIENT)
        stop = asyncio.Event()
        faults = asyncio.create_task(nemesis.run(stop))
        try:
            await workload.run(session, LOADED_SECONDS, CALLERS)
        finally:
            stop.set()
            await faults
    await asyncio.to_thread(start_broker)
    await asyncio.to_thread(fleet.ensure_running)
    await _wait_quiet(database_url, vhost, sink)

    mapper = event_mapper()
    connection = await asyncpg.connect(database_url)
    try:
        store = await read_store(connection, mapper)
        view = {
            UUID(bytes=r["credential_id"].bytes): r
            for r in await connection.fetch("SELECT * FROM credentials")
        }
        parked = {
            (r["follower"], r["event_id"])
            for r in await connection.fetch(f"SELECT * FROM {PARKED_TABLE}")
        }
    finally:
        await connection.close()
    bodies = await _drain(amqp_url)
    opener = Opener(env["TEMPSTRONG_DELIVERY_PRIVATE_KEY"])
    deliveries = check_deliveries(store, sink.all(), opener)
    published = check_published(bodies)
    ops = workload.ops
    stored_ids = store.correlation_ids
    kills = sum(n for fault, n in nemesis.faults.items() if fault == "kill delivery")

    report.extend(
        [
            f"  operations: {len(ops)} ({dict(sorted(workload.statuses.items()))})",
            f"  faults injected: {dict(nemesis.faults)}",
            f"  events stored: {len(store.events)}, credential events: "
            f"{len(store.credential_events)}, published messages: {published.messages} "
            f"({published.messages - len(published.ids)} duplicates)",
            f"  mails: {sum(deliveries.by_event.values())} for {len(deliveries.by_event)} "
            f"issued secrets, duplicates: {deliveries.duplicates} "
            f"(delivery worker kills: {kills})",
            f"  parked: {sorted(follower for follower, _ in parked)} (one poison injected)",
        ]
    )
    # no 500, ever
    assert not [op for op in ops if op.status is not None and op.status >= 500 and op.status != 503]
    # every acknowledged write is stored, nothing the caller was refused is
    assert not [op for op in ops if op.acknowledged and op.request_id not in stored_ids]
    assert not [op for op in ops if op.refused and op.request_id in stored_ids]
    # every event published at least once, in per-credential order
    expected = {
        str(event_id(e.originator_id, e.originator_version)) for e in store.credential_events
    }
    assert expected - published.ids == set(), "events never published"
    assert published.out_of_order == []
    # the read model equals the aggregates
    aggregates = store.credentials()
    assert set(view) == {cid for cid, c in aggregates.items() if not c.deleted}
    for cid, credential in aggregates.items():
        row = view[cid]
        assert (row["version"], row["reset_count"], row["failed_login_count"]) == (
            credential.version,
            credential.reset_count,
            credential.failed_login_count,
        )
        assert row["state_name"] == credential.state.value
    # one delivery per reset that was not superseded; duplicates only in the crash window
    assert deliveries.unknown_codes == []
    assert deliveries.latest_missing == []
    assert deliveries.duplicates <= kills * PREFETCH
    # the latest fragment0 a caller saw and the mailed code log the user in
    report.append(
        "  logged in with fragment0 + mailed code: "
        f"{await _log_in_with_the_latest_secrets(workload, store, sink, opener)} users"
    )
    # nothing parked but the poison
    assert parked == {("publisher", poison), ("credentials", poison)}
    assert store.undecodable == [poison]
    assert queue_depths(vhost).get("tempstrong.delivery.dead", 0) == 0


def _member(
    workdir: Path, name: str, args: list[str], env: dict[str, str], port: int, variable: str
) -> Managed:
    path = "/readyz" if name.startswith("api") else "/healthz"
    return Managed(
        name,
        args,
        {**env, variable: str(port)},
        f"http://127.0.0.1:{port}{path}",
        workdir / f"{name}.log",
    )


async def _inject_poison(database_url: str) -> UUID:
    """A stored event no code can decode: the publisher must park it and go on."""
    originator = uuid.uuid4()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO tempstrong_events (originator_id, originator_version, topic, state) "
            "VALUES ($1, 1, 'service.domain.credential:TempStrongPassword.TempStrongPasswordReset',"
            " $2)",
            originator,
            b"\x00poison",
        )
    finally:
        await connection.close()
    return event_id(originator, 1)


async def _wait_quiet(database_url: str, vhost: str, sink: SmtpSink) -> None:
    """Followers at the head, the delivery queues empty, and the mail sink still."""
    deadline = time.monotonic() + QUIET_TIMEOUT_SECONDS
    mails = -1
    while time.monotonic() < deadline:
        connection = await asyncpg.connect(database_url)
        try:
            head = await connection.fetchval("SELECT max(notification_id) FROM tempstrong_events")
            positions = await connection.fetch("SELECT name, position FROM projection_tracking")
        finally:
            await connection.close()
        behind = [r["name"] for r in positions if r["position"] < head]
        depths = await asyncio.to_thread(queue_depths, vhost)
        waiting = {q: n for q, n in depths.items() if q.startswith("tempstrong.delivery") and n}
        now = len(sink.all())
        if not behind and not waiting and now == mails:
            return
        mails = now
        await asyncio.sleep(2)
    details = await asyncio.to_thread(queue_details, vhost)
    raise AssertionError(
        f"not quiet after {QUIET_TIMEOUT_SECONDS}s: head {head}, positions"
        f" {[(r['name'], r['position']) for r in positions]}, queues {depths}, mails {mails},"
        f" delivery queues {details}"
    )


async def _drain(amqp_url: str) -> list[bytes]:
    connection = await aio_pika.connect(amqp_url)
    bodies = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(CONSUMER_QUEUE)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            bodies.append(message.body)
    return bodies


async def _log_in_with_the_latest_secrets(workload, store, sink, opener) -> int:  # type: ignore[no-untyped-def]
    latest = {}
    for credential in store.credentials().values():
        latest[(credential.client_ext_id, credential.user_ext_id)] = credential
    checked = 0
    async with aiohttp.ClientSession(headers={"X-Token": workload.token}) as session:
        for user, credential in latest.items():
            issuing = [
                e
                for e in store.credential_events
                if e.originator_id == credential.id and getattr(e, "delivery", None)
            ][-1]
            fragment0 = workload.fragments.get((user, issuing.originator_version))
            if fragment0 is None or credential.state.value not in ("initial", "active"):
                continue  # the caller never saw that fragment (an answer lost), or not usable
            code = opener.open(issuing.delivery)["secret"]
            assert any(f"Code: {code}" in mail.text for mail in sink.all())
            url = workload.bases[0] + (
                f"/nevisidm/api/core/v1/{user[0]}/users/{user[1]}/tempstrong-password/verify"
            )
            async with session.post(url, json={"password": fragment0 + code}) as r:
                assert r.status == 200, await r.text()
            checked += 1
    assert checked > 0
    return checked
