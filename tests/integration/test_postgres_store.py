"""The asyncpg event store with group commit, against PostgreSQL and the library's own recorder."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from eventsourcing.persistence import IntegrityError

from service.domain.user import User
from service.eventstore.application import EventStoreApp
from service.eventstore.deadline import DeadlineExceeded, deadline_in
from service.eventstore.port import StoreUnavailable
from service.eventstore.postgres import PostgresStore


@pytest.fixture
async def pg_store(database_url: str, store: EventStoreApp) -> AsyncIterator[PostgresStore]:
    event_store = PostgresStore(database_url, store.mapper)
    await event_store.open()
    yield event_store
    await event_store.close()


def new_user() -> User:
    return User(
        client_ext_id="acme",
        ext_id=f"store-{uuid.uuid4().hex[:12]}",
        login_id=None,
        email=None,
        mobile=None,
        language=None,
        data_key_id=None,
    )


async def test_concurrent_saves_share_batches_and_each_conflict_fails_alone(pg_store, store):
    users = [new_user() for _ in range(40)]
    await asyncio.gather(*(pg_store.save(user) for user in users))
    # two stale copies of the first user race; every other user changes once
    contested = [await pg_store.get_or_none(users[0].id) for _ in range(2)]
    others = [await pg_store.get_or_none(user.id) for user in users[1:]]
    for user in [*contested, *others]:
        assert isinstance(user, User)
        user.attach_credential(uuid.uuid4())
    batches_before, saves_before = pg_store.writer.batches, pg_store.writer.saves
    results = await asyncio.gather(
        *(pg_store.save(user) for user in [*contested, *others]), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], IntegrityError)
    assert pg_store.writer.saves - saves_before == 40
    assert pg_store.writer.batches - batches_before < 40  # saves were grouped
    for user in users:
        assert (await pg_store.get_or_none(user.id)).version == 2  # type: ignore[union-attr]
        # the library reads what the asyncpg store wrote
        assert store.repository.get(user.id).version == 2


async def test_notification_ids_follow_commit_order_and_name_every_event(pg_store, store):
    before = store.recorder.max_notification_id() or 0
    users = [new_user() for _ in range(30)]
    await asyncio.gather(*(pg_store.save(user) for user in users))
    notifications = store.recorder.select_notifications(before + 1, 1000)
    assert [n.id for n in notifications] == sorted(n.id for n in notifications)
    assert {n.originator_id for n in notifications} >= {u.id for u in users}


async def test_snapshots_every_100_events_are_the_librarys(pg_store, store, database_url):
    user = new_user()
    await pg_store.save(user)
    for _ in range(249):
        user.attach_credential(uuid.uuid4())
        await pg_store.save(user)
    await asyncio.sleep(0.2)  # snapshots are written in the background
    snapshots = list(store.snapshots.get(user.id)) if store.snapshots else []
    assert [s.originator_version for s in snapshots] == [100, 200]
    # a store with a cold cache starts from the snapshot and ends where the library does
    cold = PostgresStore(database_url, store.mapper)
    await cold.open()
    try:
        rebuilt = await cold.get_or_none(user.id)
        assert rebuilt == store.repository.get(user.id)
        assert rebuilt is not None and rebuilt.version == 250
        old = await cold.get_at(user.id, 150)
        assert old.version == 150
        assert old == store.repository.get(user.id, version=150)
    finally:
        await cold.close()


async def test_a_save_queued_past_its_deadline_commits_nothing(pg_store, store):
    user = new_user()
    with deadline_in(0.0):
        time.sleep(0.001)
        with pytest.raises(DeadlineExceeded):
            await pg_store.save(user)
    assert await pg_store.get_or_none(user.id) is None


async def test_copies_handed_out_do_not_change_the_cache(pg_store):
    user = new_user()
    await pg_store.save(user)
    first = await pg_store.get_or_none(user.id)
    assert isinstance(first, User)
    first.attach_credential(uuid.uuid4())  # changed, never saved
    second = await pg_store.get_or_none(user.id)
    assert isinstance(second, User)
    assert second.version == 1 and second.credential_id is None
    assert second.collect_events() == []


async def test_a_cached_aggregate_sees_what_another_writer_stored(pg_store, store):
    users = [new_user() for _ in range(5)]
    await asyncio.gather(*(pg_store.save(user) for user in users))
    # another process (here: the library's own recorder) changes one user behind the cache
    changed = store.repository.get(users[3].id)
    changed.attach_credential(uuid.uuid4())
    store.save(changed)
    loaded = await asyncio.gather(*(pg_store.get_or_none(user.id) for user in users))
    assert [u.version for u in loaded] == [2 if i == 3 else 1 for i in range(5)]  # type: ignore[union-attr]
    assert loaded[3].credential_id == changed.credential_id  # type: ignore[union-attr]


async def test_a_lost_commit_answer_is_looked_up_not_guessed(pg_store, monkeypatch):
    writer = pg_store.writer

    async def commit_then_lose_the_answer(connection):
        await connection.execute("COMMIT")
        raise asyncpg.ConnectionDoesNotExistError("connection lost during COMMIT")

    monkeypatch.setattr(writer, "_finish", commit_then_lose_the_answer)
    committed = new_user()
    await pg_store.save(committed)  # it did commit: no 503
    assert (await pg_store.get_or_none(committed.id)) is not None

    async def roll_back_then_lose_the_answer(connection):
        await connection.execute("ROLLBACK")
        raise asyncpg.ConnectionDoesNotExistError("connection lost during COMMIT")

    monkeypatch.setattr(writer, "_finish", roll_back_then_lose_the_answer)
    lost = new_user()
    with pytest.raises(StoreUnavailable):
        await pg_store.save(lost)
    assert await pg_store.get_or_none(lost.id) is None


async def test_the_writer_survives_an_unexpected_error(pg_store, monkeypatch):
    writer = pg_store.writer
    real_commit = writer._commit
    calls = 0

    async def fail_once(batch):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return await real_commit(batch)

    monkeypatch.setattr(writer, "_commit", fail_once)
    with pytest.raises(StoreUnavailable):
        await pg_store.save(new_user())
    after = new_user()
    await pg_store.save(after)
    assert (await pg_store.get_or_none(after.id)) is not None
