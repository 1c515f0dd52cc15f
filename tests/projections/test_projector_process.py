"""`tempstrong projector` as a real process: SIGKILLed mid-stream, restarted, it converges."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal

import asyncpg

from projections.credentials.rows import CredentialRow, apply_events
from service.commands.outcomes import UserProfile
from service.domain.errors import DomainError
from service.eventstore.application import EventStoreApp, postgres_env
from service.eventstore.postgres import PostgresStore
from service.roots.parts import build_commands
from service.roots.policies import load_policy_file
from tests.support.process import run, start


async def _workload(commands, stop: asyncio.Event, users: int) -> int:
    count = 0
    names = [f"u{i}" for i in range(users)]
    for name in names:
        await commands.users.register("acme", name, UserProfile(email=f"{name}@example.com"))
        await commands.credentials.create(
            "acme", name, ext_id=None, policy_ext_id="tsp-busy", state_name=None, actor="t"
        )

    async def one_writer() -> int:
        done = 0
        while not stop.is_set():
            name = random.choice(names)
            try:
                if random.random() < 0.5:
                    await commands.credentials.reset("acme", name, actor="t", idempotency=None)
                else:
                    await commands.credentials.verify("acme", name, "wrong")
            except DomainError:
                continue  # locked or out of resets: no event
            done += 1
            await asyncio.sleep(0.005)  # a steady stream, not a burst that ends before the kill
        return done

    # several concurrent writers: the group commit puts more than one save in a batch
    for done in await asyncio.gather(*(one_writer() for _ in range(4))):
        count += done
    return count


async def _expected_rows(store: EventStoreApp) -> dict:
    notifications = store.recorder.select_notifications(1, 1_000_000)
    events = [
        (n, store.mapper.to_domain_event(n))
        for n in notifications
        if n.topic.startswith("service.domain.credential:")
    ]
    folded, failed = apply_events({}, events)
    assert failed == []
    return {
        cid: CredentialRow.of(c, store.mapper.transcoder)
        for cid, c in folded.items()
        if c is not None
    }


async def _view(database_url: str) -> dict:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT * FROM credentials")
        position = await connection.fetchval(
            "SELECT position FROM projection_tracking WHERE name = 'credentials'"
        )
    finally:
        await connection.close()
    return {"rows": {r["credential_id"]: dict(r) for r in rows}, "position": position}


async def _eventually_positioned(database_url: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await _view(database_url))["position"]:
        assert asyncio.get_running_loop().time() < deadline, "the projector applied nothing"
        await asyncio.sleep(0.05)


async def test_projector_killed_mid_stream_converges(tmp_path, fresh_database, settings):
    env = {"TEMPSTRONG_DATABASE_URL": fresh_database, "TEMPSTRONG_METRICS_PORT": ""}
    assert run(["migrate"], env, tmp_path).returncode == 0
    store = EventStoreApp(env=postgres_env(fresh_database, create_table=False))
    catalog = load_policy_file(settings.policy_file, settings.hash_key)
    event_store = PostgresStore(fresh_database, store.mapper)
    await event_store.open()
    commands = build_commands(settings, event_store, catalog)
    stop = asyncio.Event()
    writer = asyncio.create_task(_workload(commands, stop, 30))
    try:
        projector = start(["projector"], env, tmp_path)
        # killed once it has applied something, while the writer still writes (on a loaded
        # machine the process may take seconds to start: a fixed sleep could kill it before)
        await _eventually_positioned(fresh_database)
        projector.send_signal(signal.SIGKILL)
        projector.wait(timeout=10)
        killed_at = (await _view(fresh_database))["position"]
        projector = start(["projector"], env, tmp_path)
        await asyncio.sleep(1.0)
        stop.set()
        commands = await writer
        head = store.recorder.max_notification_id()
        for _ in range(600):
            if (await _view(fresh_database))["position"] >= head:
                break
            await asyncio.sleep(0.05)
        projector.send_signal(signal.SIGTERM)
        assert projector.wait(timeout=20) == 0
    finally:
        stop.set()
        await writer
        await event_store.close()
    view = await _view(fresh_database)
    assert commands > 20 and 0 < killed_at < head
    assert view["position"] == head
    expected = await _expected_rows(store)
    assert set(view["rows"]) == set(expected)
    for credential_id, row in expected.items():
        actual = view["rows"][credential_id]
        assert actual["version"] == row.version
        assert actual["reset_count"] == row.reset_count
        assert actual["failed_login_count"] == row.failed_login_count
        assert actual["state_name"] == row.state_name
    store.close()

    # and `tempstrong rebuild credentials` gives the same rows
    result = run(["rebuild", "credentials"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    replayed = int(result.stdout.split(" rebuilt from ")[1].split()[0])
    said = json.loads(result.stderr.splitlines()[-1])  # progress, as JSON off a terminal
    assert (said["progress"], said["command"], said["done"]) == (
        "done",
        "rebuild credentials",
        replayed,
    )
    assert said["total"] >= replayed > 0
    rebuilt = await _view(fresh_database)
    assert rebuilt["rows"] == view["rows"]
    assert os.environ.get("TEMPSTRONG_DATABASE_URL") != fresh_database
