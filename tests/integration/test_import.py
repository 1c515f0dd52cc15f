"""`tempstrong import` as a process against PostgreSQL: a file imported once, re-run without
effect, bad lines named and never half-written, and an import killed midway that resumes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg

from service.config import Settings
from service.domain.credential import TempStrongPassword
from service.domain.states import CredentialState
from service.domain.user import User
from service.eventstore.application import event_mapper
from service.eventstore.postgres import PostgresStore
from service.privacy.keyring import load_keyring
from service.privacy.personal_data import PersonalData
from tests.support.process import run, start

EVENTS_PER_USER = 3  # UserRegistered, CredentialAttached, TempStrongPasswordCreated


def _env(settings: Settings, database_url: str) -> dict[str, str]:
    assert settings.policy_file and settings.hash_key and settings.personal_data_keys
    return {
        "TEMPSTRONG_DATABASE_URL": database_url,
        "TEMPSTRONG_POLICY_FILE": settings.policy_file,
        "TEMPSTRONG_HASH_KEY": settings.hash_key.decode(),
        "TEMPSTRONG_PERSONAL_DATA_KEYS": settings.personal_data_keys,
    }


def _user(index: int, **credential: Any) -> dict[str, Any]:
    return {
        "extId": f"user-{index}",
        "loginId": f"login-{index}",
        "email": f"user-{index}@corp.local",
        "language": "de",
        "tempStrongPassword": {"extId": f"tsp-{index}", **credential},
    }


def _write(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


async def _counts(database_url: str) -> tuple[int, int]:
    """(events, data keys) in the store."""
    connection = await asyncpg.connect(database_url)
    try:
        events = await connection.fetchval("SELECT count(*) FROM tempstrong_events")
        keys = await connection.fetchval("SELECT count(*) FROM personal_data_keys")
        return int(events), int(keys)
    finally:
        await connection.close()


def _import(env: dict[str, str], cwd: Path, file: Path, *args: str):  # type: ignore[no-untyped-def]
    return run(["import", "--client", "acme", str(file), *args], env, cwd, timeout=120)


async def test_a_file_is_imported_once_and_a_second_run_changes_nothing(
    settings, fresh_database, tmp_path
) -> None:
    env = _env(settings, fresh_database)
    assert run(["migrate"], env, tmp_path).returncode == 0
    users = [_user(i, stateName="active", resetCount=i % 3) for i in range(1200)]
    users.append({"extId": "no-credential", "mobile": "+41790000009"})
    file = _write(tmp_path / "users.jsonl", users)

    first = _import(env, tmp_path, file)
    assert first.returncode == 0, first.stderr
    assert "1201 user(s) imported, 0 already there, 0 line(s) skipped" in first.stdout
    progress = [json.loads(line) for line in first.stderr.splitlines()]
    assert progress[-1]["progress"] == "done" and progress[-1]["done"] == 1201
    assert progress[-1]["imported"] == 1201
    assert await _counts(fresh_database) == (1200 * EVENTS_PER_USER + 1, 1201)

    again = _import(env, tmp_path, file)
    assert again.returncode == 0, again.stderr
    assert "0 user(s) imported, 1201 already there" in again.stdout
    assert await _counts(fresh_database) == (1200 * EVENTS_PER_USER + 1, 1201)

    store = PostgresStore(fresh_database, event_mapper())
    await store.open()
    try:
        user = await store.get_or_none(User.create_id("acme", "user-7"))
        credential = await store.get_or_none(TempStrongPassword.create_id("acme", "tsp-7"))
        assert isinstance(user, User) and isinstance(credential, TempStrongPassword)
        revealer = await PersonalData(load_keyring(env["TEMPSTRONG_PERSONAL_DATA_KEYS"]), store)\
            .revealer(user)  # fmt: skip
        assert revealer.reveal(user.email, user.id, "email") == "user-7@corp.local"
        assert user.credential_id == credential.id
        assert credential.state is CredentialState.ACTIVE and credential.reset_count == 1
    finally:
        await store.close()


async def test_bad_lines_are_named_skipped_and_never_half_written(
    settings, fresh_database, tmp_path
) -> None:
    env = _env(settings, fresh_database)
    assert run(["migrate"], env, tmp_path).returncode == 0
    file = _write(
        tmp_path / "mixed.jsonl",
        [
            _user(1),
            "{not json",
            _user(2, stateName="tmp-locked"),  # the user is fine, the credential is not
            "",  # blank lines are no users
            _user(3, hash="in-the-clear"),
            _user(4),
        ],
    )
    result = _import(env, tmp_path, file)
    assert result.returncode == 1
    assert "2 user(s) imported, 0 already there, 3 line(s) skipped" in result.stdout
    said = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert [line.split(":")[1].strip() for line in said] == ["line 2", "line 3", "line 5"]
    assert "in-the-clear" not in result.stderr
    assert await _counts(fresh_database) == (2 * EVENTS_PER_USER, 2)  # users 1 and 4 only

    stopping = _write(tmp_path / "stop.jsonl", [_user(5), "[]", _user(6)])
    stopped = _import(env, tmp_path, stopping, "--stop-on-error")
    assert stopped.returncode == 1 and "(stopped at the first bad line)" in stopped.stdout
    assert "1 user(s) imported" in stopped.stdout
    assert await _counts(fresh_database) == (3 * EVENTS_PER_USER, 3)  # user 6 was not reached


async def test_what_import_refuses_before_it_starts(settings, fresh_database, tmp_path) -> None:
    env = _env(settings, fresh_database)
    assert run(["migrate"], env, tmp_path).returncode == 0
    file = _write(tmp_path / "one.jsonl", [_user(1)])
    cases = {
        ("import", "--client", "nobody", str(file)): "client nobody is not in the policy file",
        ("import", "--client", "acme", str(tmp_path / "none.jsonl")): "no such file",
        ("import", "--client", "acme", "--workers", "0", str(file)): "--workers",
    }
    for args, message in cases.items():
        result = run(list(args), env, tmp_path)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    (tmp_path / "latin.jsonl").write_bytes(b'{"extId": "caf\xe9"}\n')
    latin = _import(env, tmp_path, tmp_path / "latin.jsonl")
    assert latin.returncode == 2 and "not UTF-8 text" in latin.stderr
    assert await _counts(fresh_database) == (0, 0)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


async def test_an_import_killed_midway_resumes_and_writes_everyone_once(
    settings, fresh_database, tmp_path
) -> None:
    env = _env(settings, fresh_database)
    assert run(["migrate"], env, tmp_path).returncode == 0
    total = 10_000
    file = _write(tmp_path / "many.jsonl", [_user(i) for i in range(total)])
    importing = start(["import", "--client", "acme", str(file)], env, tmp_path)
    deadline = time.monotonic() + 60
    while (await _counts(fresh_database))[1] == 0:  # the first batch committed
        assert importing.poll() is None and time.monotonic() < deadline
        await asyncio.sleep(0.05)
    workers = _children(importing.pid)
    importing.send_signal(signal.SIGKILL)
    importing.wait(timeout=10)
    events, keys = await _counts(fresh_database)
    assert 0 < keys < total, "the import finished before it could be interrupted"
    assert events == keys * EVENTS_PER_USER  # whole users only: a batch commits or not at all
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # workers end with their parent
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)

    resumed = _import(env, tmp_path, file)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{total - keys} user(s) imported, {keys} already there" in resumed.stdout
    assert await _counts(fresh_database) == (total * EVENTS_PER_USER, total)
