"""`tempstrong rewrap` and `tempstrong erase` against PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from service.commands.outcomes import UserProfile
from service.domain.user import User
from service.eventstore.application import event_mapper
from service.eventstore.postgres import PostgresStore
from service.privacy.keyring import load_keyring, new_keyring_document
from service.privacy.personal_data import PersonalData
from service.roots.parts import build_commands
from service.roots.policies import load_policy_file
from tests.support.process import run


async def _register(settings, database_url: str, keyring: Path, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    store = PostgresStore(database_url, event_mapper())
    await store.open()
    try:
        catalog = load_policy_file(settings.policy_file, settings.hash_key)
        personal = PersonalData(load_keyring(keyring), store)
        commands = build_commands(settings, store, catalog, personal=personal)
        for name in names:
            await commands.users.register("acme", name, UserProfile(email=f"{name}@corp.local"))
    finally:
        await store.close()


async def _email(database_url: str, keyring: Path, name: str) -> str | None:
    store = PostgresStore(database_url, event_mapper())
    await store.open()
    try:
        user = await store.get_or_none(User.create_id("acme", name))
        assert isinstance(user, User)
        revealer = await PersonalData(load_keyring(keyring), store).revealer(user)
        return revealer.reveal(user.email, user.id, "email")
    finally:
        await store.close()


def _ring(path: Path, *documents: dict[str, list[dict[str, str]]]) -> Path:
    path.write_text(json.dumps({"keys": [k for d in documents for k in d["keys"]]}))
    return path


async def test_rewrap_moves_every_key_to_the_first_and_the_old_one_can_leave(
    settings, fresh_database, tmp_path
) -> None:
    env = {"TEMPSTRONG_DATABASE_URL": fresh_database}
    assert run(["migrate"], env, tmp_path).returncode == 0
    old, new = new_keyring_document("2026-11"), new_keyring_document("2026-12")
    old_ring = _ring(tmp_path / "old.json", old)
    await _register(settings, fresh_database, old_ring, ["ann", "ben", "cat"])

    both = _ring(tmp_path / "both.json", new, old)
    env["TEMPSTRONG_PERSONAL_DATA_KEYS"] = str(both)
    result = run(["rewrap"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 data key(s) re-wrapped with '2026-12' (0 were already)" in result.stdout
    said = json.loads(result.stderr.splitlines()[-1])  # progress, as JSON off a terminal
    assert (said["progress"], said["done"], said["total"]) == ("done", 3, 3)
    assert "2026-11 can now leave the keyring" in result.stdout

    only_new = _ring(tmp_path / "new.json", new)
    assert await _email(fresh_database, only_new, "ben") == "ben@corp.local"
    again = run(["rewrap"], {**env, "TEMPSTRONG_PERSONAL_DATA_KEYS": str(only_new)}, tmp_path)
    assert again.returncode == 0 and "0 data key(s) re-wrapped" in again.stdout
    assert "(3 were already)" in again.stdout

    # a key no key of the ring unwraps is left as it is, and said so
    await _register(settings, fresh_database, old_ring, ["dan"])
    stuck = run(["rewrap"], {**env, "TEMPSTRONG_PERSONAL_DATA_KEYS": str(only_new)}, tmp_path)
    assert stuck.returncode == 1 and "1 data key(s) open with no key of the ring" in stuck.stdout


async def test_erase_by_request_deletes_and_erases_once(settings, fresh_database, tmp_path) -> None:
    env = {"TEMPSTRONG_DATABASE_URL": fresh_database}
    assert run(["migrate"], env, tmp_path).returncode == 0
    ring = _ring(tmp_path / "ring.json", new_keyring_document())
    await _register(settings, fresh_database, ring, ["eve"])
    first = run(
        ["erase", "--client", "acme", "--user", "eve", "--actor", "dpo-4711"], env, tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "user eve of client acme deleted and erased (1 data key(s) destroyed" in first.stdout
    second = run(["erase", "--client", "acme", "--user", "eve"], env, tmp_path)
    assert second.returncode == 0 and "was erased before: nothing to do" in second.stdout
    unknown = run(["erase", "--client", "acme", "--user", "nobody"], env, tmp_path)
    assert unknown.returncode == 1 and "No such user" in unknown.stderr

    store = PostgresStore(fresh_database, event_mapper())
    await store.open()
    try:
        events = await store.events_of(User.create_id("acme", "eve"))
    finally:
        await store.close()
    erased = events[-1]
    assert type(erased).__name__ == "UserErased"
    assert erased.actor == "tempstrong erase (dpo-4711)"  # type: ignore[attr-defined]
    assert erased.reason == "data-subject request"  # type: ignore[attr-defined]
