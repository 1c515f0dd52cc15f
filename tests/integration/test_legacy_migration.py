"""`tempstrong migrate` brings a store written before personal data was encrypted to the new form.

tests/fixtures/legacy_events.json holds events the code of commit 7a841fa wrote: a user whose
loginId, email and mobile are stored in the clear (deleted, then registered again), a credential
with an admin's comment in the clear and sealed boxes that held addresses, and a snapshot.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from eventsourcing.persistence import StoredEvent

from service.domain.personal import Encrypted
from service.domain.user import User
from service.eventstore.application import event_mapper
from service.eventstore.postgres import PostgresStore
from service.privacy.erasure import Eraser
from service.privacy.keyring import new_keyring_document
from tests.support.database import create_database, drop_database, url_for
from tests.support.process import run

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_events.json"
PLAINTEXT = (b"u@example.com", b"login-1", b"+41790000000", b'"unlock"')
USER_1 = User.create_id("acme", "user-1")


@pytest.fixture
async def legacy_store(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A migrated database holding the old rows, as if the publisher had published them all."""
    name = await create_database("tempstrong_legacy")
    url = url_for(name)
    (tmp_path / "keyring.json").write_text(json.dumps(new_keyring_document()))
    env = {"TEMPSTRONG_DATABASE_URL": url}
    assert run(["migrate"], env, tmp_path).returncode == 0  # an empty store: the schema
    rows = json.loads(FIXTURE.read_text())["rows"]
    connection = await asyncpg.connect(url)
    try:
        for row in rows:
            table = "tempstrong_snapshots" if row.get("snapshot") else "tempstrong_events"
            await connection.execute(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                "VALUES ($1, $2, $3, $4)",
                UUID(row["originator_id"]),
                row["originator_version"],
                row["topic"],
                base64.b64decode(row["state"]),
            )
        await connection.execute(
            "UPDATE projection_tracking SET position = "
            "(SELECT max(notification_id) FROM tempstrong_events) WHERE name = 'publisher'"
        )
    finally:
        await connection.close()
    yield url, {**env, "TEMPSTRONG_PERSONAL_DATA_KEYS": str(tmp_path / "keyring.json")}
    await drop_database(name)


async def _all_states(url: str) -> list[bytes]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT state FROM tempstrong_events UNION ALL SELECT state FROM tempstrong_snapshots"
        )
    finally:
        await connection.close()
    return [bytes(row[0]) for row in rows]


async def test_migrate_seals_what_was_stored_in_the_clear(legacy_store, tmp_path) -> None:
    url, env = legacy_store
    before = await _all_states(url)
    assert all(any(text in state for state in before) for text in PLAINTEXT)

    refused = run(["migrate"], {"TEMPSTRONG_DATABASE_URL": url}, tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "TEMPSTRONG_PERSONAL_DATA_KEYS" in refused.stderr

    migrated = run(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    said = migrated.stdout
    assert "2 person(s) given a data key" in said and "1 comment(s) sealed" in said
    assert "2 published sealed box(es) with addresses removed" in said
    assert "1 snapshot(s) deleted" in said

    after = await _all_states(url)
    assert not any(text in state for text in PLAINTEXT for state in after)
    assert not any(b'"keyId":"k"' in state for state in after)  # the old boxes are gone

    # every event still decodes; the profile is sealed to a key of its own
    mapper = event_mapper()
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT originator_id, originator_version, topic, state FROM tempstrong_events"
        )
        keys = await connection.fetch("SELECT subject_id, erase_after FROM personal_data_keys")
    finally:
        await connection.close()
    events = [mapper.to_domain_event(StoredEvent(r[0], r[1], r[2], bytes(r[3]))) for r in rows]
    created = next(e for e in events if type(e).__name__ == "UserCreated")
    assert isinstance(created.email, Encrypted) and created.data_key_id is not None  # type: ignore[attr-defined]
    changed = next(e for e in events if type(e).__name__ == "StateChanged")
    assert isinstance(changed.modification_comment, Encrypted)  # type: ignore[attr-defined]
    # the registration deleted before is due for erasure; the one after it is live
    assert sorted(k[1] is not None for k in keys) == [False, True]

    # the erasure runner erases it (the projector runs it in production)
    store = PostgresStore(url, mapper)
    await store.open()
    try:
        assert await Eraser(store, lambda: datetime.now(UTC)).erase_due() == 1
        names = [type(e).__name__ for e in await store.events_of(USER_1)]
    finally:
        await store.close()
    assert names[-1] == "UserErased"

    again = run(["migrate"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "given a data key" not in again.stdout  # nothing left to convert
