"""The console script as real processes: dev mode, api, migrate, keys, token."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import asyncpg
import jwt

from tests.support.http import BASE
from tests.support.process import api_env, free_port, run, start, wait_http


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()


def _dev_token(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    banner = ""
    while "export TOKEN=" not in banner:
        banner += process.stdout.readline()
    return re.search(r"export TOKEN=(\S+)", banner).group(1)  # type: ignore[union-attr]


async def _walk_through(port: int, token: str, var: Path) -> None:
    """The README's walk-through: user, credential, reset, the mailed code, a verify."""
    base = f"http://127.0.0.1:{port}{BASE}/client-123"
    async with aiohttp.ClientSession(headers={"X-Token": token}) as session:
        async with session.post(
            f"{base}/users", json={"extId": "user-123", "email": "user@example.com"}
        ) as r:
            assert r.status == 201
        async with session.post(f"{base}/users/user-123/tempstrong-password") as r:
            assert r.status == 201
        async with session.post(f"{base}/users/user-123/tempstrong-password/reset") as r:
            assert r.status == 200
            body = await r.json()
        mail = var / "outbox" / "client-123" / "user-123-2.eml"
        for _ in range(100):  # the in-process worker writes the reset's mail
            if mail.exists():
                break
            await asyncio.sleep(0.1)
        assert oct(mail.stat().st_mode)[-3:] == "600"
        (code,) = [line[6:] for line in mail.read_text().splitlines() if line.startswith("Code: ")]
        password = body["tempStrongPassword"] + code
        async with session.post(
            f"{base}/users/user-123/tempstrong-password/verify", json={"password": password}
        ) as r:
            assert r.status == 200 and await r.json() == {"result": "ok"}
        for _ in range(50):  # the in-process projector follows the SQLite store
            async with session.get(f"{base}/tempstrong-passwords") as r:
                page = await r.json()
            if page["items"] and page["items"][0]["stateName"] == "active":
                break
            await asyncio.sleep(0.1)
    assert body["resetCount"] == 1 and len(body["tempStrongPassword"]) == 30
    assert [item["userExtId"] for item in page["items"]] == ["user-123"]
    assert page["items"][0]["resetCount"] == 1


async def test_dev_mode_walk_through_ends_with_a_verify(tmp_path):
    port = free_port()
    # the listener variables work for dev mode too (not only --port)
    process = start(["dev"], {"TEMPSTRONG_HTTP_PORT": str(port)}, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process)
        await _walk_through(port, _dev_token(process), tmp_path / "var")
        assert (tmp_path / "var" / "tempstrong.sqlite").exists()
    finally:
        assert _stop(process) == 0
    assert process.stdout is not None
    console = process.stdout.read()
    # the dev console names the file the out-of-band message went to
    assert "out-of-band Email for user-123 (version 2): " in console
    assert "user-123-2.eml" in console

    # a second run in the same folder starts afresh with --fresh (else user-123 exists: 409)
    port = free_port()
    process = start(["dev", "--fresh", "--port", str(port)], {}, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process)
        await _walk_through(port, _dev_token(process), tmp_path / "var")
    finally:
        assert _stop(process) == 0


async def test_dev_fresh_next_to_a_running_dev_refuses_and_touches_nothing(tmp_path):
    port = free_port()
    first = start(["dev", "--port", str(port)], {}, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", first)
        token = _dev_token(first)
        before = {p: p.stat().st_mtime_ns for p in (tmp_path / "var").rglob("*") if p.is_file()}
        assert tmp_path / "var" / "tempstrong.sqlite" in before
        for extra in (["--fresh"], []):
            other = run(["dev", *extra, "--port", str(free_port())], {}, tmp_path)
            assert other.returncode == 2, other.stderr
            (line,) = other.stderr.strip().splitlines()
            assert f"pid {first.pid}" in line and "nothing was changed" in line
        after = {p: p.stat().st_mtime_ns for p in (tmp_path / "var").rglob("*") if p.is_file()}
        assert after.keys() >= before.keys()
        assert {p: after[p] for p in before if not p.name.startswith(".dev")} == {
            p: t for p, t in before.items() if not p.name.startswith(".dev")
        }
        # the running dev still serves with its token
        await _walk_through(port, token, tmp_path / "var")
    finally:
        assert _stop(first) == 0
    # once it stopped, --fresh starts from empty, with new keys: the old token no longer works
    port = free_port()
    fresh = start(["dev", "--fresh", "--port", str(port)], {}, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", fresh)
        assert _dev_token(fresh) != token
        url = f"http://127.0.0.1:{port}{BASE}/client-123/users/user-123"
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers={"X-Token": token}) as response,
        ):
            assert response.status == 401
    finally:
        assert _stop(fresh) == 0


def test_dev_mode_on_a_taken_port_names_the_setting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["dev", "--port", str(port)], {}, tmp_path)
    assert result.returncode == 2
    assert "TEMPSTRONG_HTTP_PORT" in result.stderr and "Traceback" not in result.stderr


def test_api_refuses_to_start_without_its_settings(tmp_path):
    env = {k: "" for k in ("TEMPSTRONG_DATABASE_URL", "TEMPSTRONG_JWKS", "TEMPSTRONG_POLICY_FILE")}
    result = run(["api"], env, tmp_path)
    assert result.returncode == 2
    for name in ("TEMPSTRONG_DATABASE_URL", "TEMPSTRONG_JWKS", "TEMPSTRONG_POLICY_FILE"):
        assert name in result.stderr


def test_api_refuses_an_invalid_policy_file(tmp_path):
    (tmp_path / "p.yaml").write_text("clients: {acme: {defaultPolicy: missing}}\n")
    env = {
        "TEMPSTRONG_DATABASE_URL": "postgresql://postgres@127.0.0.1/postgres",
        "TEMPSTRONG_JWKS": str(tmp_path / "jwks.json"),
        "TEMPSTRONG_JWT_ISSUER": "i",
        "TEMPSTRONG_JWT_AUDIENCE": "a",
        "TEMPSTRONG_POLICY_FILE": str(tmp_path / "p.yaml"),
        "TEMPSTRONG_DELIVERY_PUBLIC_KEY": "x",
        "TEMPSTRONG_PERSONAL_DATA_KEYS": str(tmp_path / "keys.json"),
    }
    result = run(["api"], env, tmp_path)
    assert result.returncode == 2
    assert (
        str(tmp_path / "p.yaml") in result.stderr and "clients.acme.defaultPolicy" in result.stderr
    )


def test_keys_and_token(tmp_path):
    result = run(["keys", "--out", "k"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    jwks = json.loads((tmp_path / "k" / "jwks.json").read_text())
    assert oct((tmp_path / "k" / "jwt-signing-key.pem").stat().st_mode)[-3:] == "600"
    result = run(
        [
            "token",
            "--keys",
            "k",
            "--permissions",
            "AccessControl.CredentialView",
            "--client",
            "acme",
        ],
        {},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="tempstrong")
    assert claims["permissions"] == ["AccessControl.CredentialView"] and claims["clients"] == [
        "acme"
    ]
    result = run(
        ["token", "--keys", "k", "--self-admin", "--sub", "u1", "--client", "acme"], {}, tmp_path
    )
    claims = jwt.decode(result.stdout.strip(), key.key, algorithms=["EdDSA"], audience="tempstrong")
    assert claims["roles"] == ["SelfAdmin"] and claims["client"] == "acme" and claims["sub"] == "u1"


async def test_migrate_then_api_serves_a_reset_and_stops_cleanly(tmp_path, fresh_database):
    env = {"TEMPSTRONG_DATABASE_URL": fresh_database}
    for _ in range(2):  # safe to run again
        result = run(["migrate"], env, tmp_path)
        assert result.returncode == 0, result.stderr
    connection = await asyncpg.connect(fresh_database)
    try:
        tables = {r["tablename"] for r in await connection.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await connection.close()
    assert {"tempstrong_events", "tempstrong_snapshots"} <= tables

    port = free_port()
    env.update(api_env(tmp_path, port))
    process = start(["api"], env, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", process)
        token = run(
            [
                "token",
                "--keys",
                "k",
                "--client",
                "acme",
                "--permissions",
                "AccessControl.UserCreate",
                "AccessControl.CredentialCreate",
                "AccessControl.CredentialView",
                "AccessControl.CredentialModify",
            ],
            {},
            tmp_path,
        ).stdout.strip()
        base = f"http://127.0.0.1:{port}{BASE}/acme"
        async with aiohttp.ClientSession(headers={"X-Token": token}) as session:
            async with session.post(f"{base}/users", json={"extId": "u1", "email": "a@b.ch"}) as r:
                assert r.status == 201
            async with session.post(f"{base}/users/u1/tempstrong-password") as r:
                assert r.status == 201
            async with session.post(f"{base}/users/u1/tempstrong-password/reset") as r:
                assert r.status == 200
    finally:
        assert _stop(process) == 0
    assert process.stderr is not None
    for line in process.stderr.read().splitlines():
        json.loads(line)  # every log line is JSON
