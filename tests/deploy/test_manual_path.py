"""deploy/README.md's "Without containers" runs as written: from nothing to a verified reset.

The test takes every ```sh block after `<!-- manual-path -->` in that section, in order, and runs
them as one bash script (`set -euo pipefail`) in a fresh folder that holds a copy of
`deploy/policies.yaml`, as the repository's root would. It changes only what must differ on a
shared test machine: the database (a fresh name, and this server's URL), the RabbitMQ vhost (a
fresh name) and the ports (free ones); `createdb` and `dropdb` find the server through the PG*
variables. The blocks create the database and the vhost, make the keys, migrate, start the mail
catcher and the four processes, create a user and a credential, reset it, read the code from the
mail and verify; their last block stops everything and drops the database and the vhost, which
this test checks. Whatever a failed run left behind goes in the end all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.support.amqp import delete_vhost
from tests.support.database import ADMIN_URL, drop_database, url_for
from tests.support.process import ROOT, free_ports

README = ROOT / "deploy" / "README.md"
SECTION = "## Without containers\n"
MARKER = "<!-- manual-path -->"
# the ports the README's blocks use, each replaced by a free one
PORTS = ("8080", "9101", "9102", "9103", "1025")
SCRIPT_TIMEOUT = 120  # a guard against a hang (a mail that never comes), not a measurement
STOP_SECONDS = 10


def manual_path_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"deploy/README.md has no {SECTION.strip()!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"{re.escape(MARKER)}\s*```sh\n(.*?)^```", section, re.S | re.M)
    assert len(blocks) == section.count(MARKER), f"every {MARKER} must precede a ```sh block"
    return blocks


def for_this_machine(script: str, database: str, vhost: str, ports: dict[str, int]) -> str:
    """The README's commands with this run's database, vhost and ports: nothing else changes."""
    substitutions: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (r"\b(createdb|dropdb) tempstrong\b", lambda m: f"{m[1]} {database}"),
        (r"\bpostgresql://localhost/tempstrong\b", lambda m: url_for(database)),
        (r"(?<!\S)(add_vhost|delete_vhost|-p) tempstrong\b", lambda m: f"{m[1]} {vhost}"),
        (r"\b(amqp://\S+:5672/)tempstrong\b", lambda m: f"{m[1]}{vhost}"),
        *((rf"\b{default}\b", lambda m: str(ports[m[0]])) for default in ports),
    ]
    for pattern, replace in substitutions:
        script, count = re.subn(pattern, replace, script)
        assert count, f"deploy/README.md's blocks no longer match {pattern!r}: update this test"
    return script


def environment() -> dict[str, str]:
    """This machine's, without TEMPSTRONG_* (the blocks set their own); the project's
    `tempstrong` and `python3` first on the PATH; PG* for `createdb` and `dropdb`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPSTRONG_")}
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "tempstrong").exists(), f"no tempstrong script beside {sys.executable}"
    assert (bin_dir / "python3").exists(), f"no python3 beside {sys.executable}"
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    admin = urlsplit(ADMIN_URL)
    env.update(PGHOST=admin.hostname or "127.0.0.1", PGPORT=str(admin.port or 5432))
    if admin.username:
        env["PGUSER"] = admin.username
    if admin.password:
        env["PGPASSWORD"] = admin.password
    return env


def stop_group(process: subprocess.Popen[str]) -> bool:
    """Ends whatever the script left in its process group; True if something was left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return True


def logs(folder: Path) -> str:
    files = [folder / "var" / "mail.log", *sorted((folder / "var" / "log").glob("*.log"))]
    return "\n".join(
        f"--- {path.relative_to(folder)}:\n{path.read_text(errors='replace')[-3000:]}"
        for path in files
        if path.exists()
    )


async def database_exists(name: str) -> bool:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


def vhost_exists(name: str) -> bool:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts", "name"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return name in listed.stdout.split()


async def remove_leftovers(database: str, vhost: str) -> tuple[bool, bool, Exception | None]:
    """Drops the database and the vhost if the blocks left them: (database left, vhost left,
    what went wrong doing so). Never raises, so that a failure of the run itself is what shows."""
    try:
        left_database = await database_exists(database)
        if left_database:
            await drop_database(database)
        left_vhost = await asyncio.to_thread(vhost_exists, vhost)
        if left_vhost:
            await asyncio.to_thread(delete_vhost, vhost)
    except Exception as exc:
        return True, True, exc
    return left_database, left_vhost, None


async def test_the_manual_path_resets_mails_and_verifies(tmp_path: Path):
    if shutil.which("rabbitmqctl") is None or shutil.which("createdb") is None:
        pytest.skip("needs rabbitmqctl and createdb on this machine")
    suffix = uuid.uuid4().hex[:12]
    database, vhost = f"tempstrong_manual_{suffix}", f"tempstrong_test_{suffix}"
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    script = "\n".join(manual_path_blocks())
    (tmp_path / "manual-path.sh").write_text(for_this_machine(script, database, vhost, ports))
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "deploy" / "policies.yaml", tmp_path / "deploy" / "policies.yaml")

    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "manual-path.sh"],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: everything it starts ends with it
    )
    try:
        output, _ = await asyncio.to_thread(process.communicate, timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_group(process)
        output, _ = process.communicate()
        pytest.fail(f"the blocks did not finish in {SCRIPT_TIMEOUT} s:\n{output}\n{logs(tmp_path)}")
    finally:
        left_running = stop_group(process)
        left_database, left_vhost, cleanup_error = await remove_leftovers(database, vhost)

    assert process.returncode == 0, f"the blocks failed:\n{output}\n{logs(tmp_path)}"
    answers = [line for line in output.splitlines() if line.startswith("{")]
    assert json.loads(answers[-1]) == {"result": "ok"}, output  # the verify's answer
    mail = (tmp_path / "var" / "mail.log").read_text()
    assert re.findall(r"^To: (\S+)$", mail, re.M) == ["u1@example.com"] * 2, mail
    assert len(re.findall(r"^Code: \S+$", mail, re.M)) == 2, mail  # the credential's, the reset's
    # the README's last block stopped everything and removed what the first one made
    assert not left_running, "processes outlived the README's `kill $(jobs -p); wait`"
    assert cleanup_error is None, cleanup_error
    assert not left_database, "the README's `dropdb` left the database"
    assert not left_vhost, "the README's `rabbitmqctl delete_vhost` left the vhost"
