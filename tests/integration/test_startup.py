"""How the processes start and stop: one line naming the setting and exit 2
for what cannot work, not-ready until the schema exists, a start and a stop line, and --help
that lists every variable a command reads."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from service.config import variables_of
from service.privacy.keyring import new_keyring_document
from tests.support.process import api_env, free_port, run, start, wait_http


def _api_env(tmp_path: Path, database_url: str, port: int) -> dict[str, str]:
    return {**api_env(tmp_path, port), "TEMPSTRONG_DATABASE_URL": database_url}


def _refusal(result: subprocess.CompletedProcess[str], setting: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0] and "Traceback" not in result.stderr, lines
    return lines[0]


def test_api_on_a_taken_port_names_the_setting(tmp_path, fresh_database):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["api"], _api_env(tmp_path, fresh_database, port), tmp_path)
    assert str(port) in _refusal(result, "TEMPSTRONG_HTTP_PORT")


@pytest.mark.parametrize(
    ("content", "says"), [(None, "No such file"), ("not json", "not a JWKS"), ("{}", "JWKS")]
)
def test_api_refuses_a_jwks_it_cannot_use(tmp_path, fresh_database, content, says):
    env = _api_env(tmp_path, fresh_database, free_port())
    path = tmp_path / "given-jwks.json"
    if content is not None:
        path.write_text(content)
    env["TEMPSTRONG_JWKS"] = str(path)
    assert says in _refusal(run(["api"], env, tmp_path), "TEMPSTRONG_JWKS")


def test_api_before_migrate_is_not_ready_and_says_to_migrate(tmp_path, fresh_database):
    port = free_port()
    process = start(["api"], _api_env(tmp_path, fresh_database, port), tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            except urllib.error.HTTPError as not_ready:
                status, body = not_ready.code, json.loads(not_ready.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the API never answered"
                time.sleep(0.2)
                continue
            raise AssertionError("ready without a schema")
        assert status == 503
        assert "tempstrong migrate" in body["errors"][0]["message"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_api_logs_one_line_at_start_and_one_at_stop(tmp_path, fresh_database):
    assert run(["migrate"], {"TEMPSTRONG_DATABASE_URL": fresh_database}, tmp_path).returncode == 0
    port = free_port()
    env = _api_env(tmp_path, fresh_database, port)
    process = start(["api"], env, tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", process)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    lines = [json.loads(line) for line in process.stderr.read().splitlines()]
    started = [line for line in lines if line["message"] == "tempstrong api started"]
    stopped = [line for line in lines if line["message"] == "tempstrong api stopped"]
    assert len(started) == 1 and len(stopped) == 1
    assert started[0]["listener"].endswith(f":{port}")
    settings = started[0]["settings"]
    assert settings["TEMPSTRONG_POLICY_FILE"] == env["TEMPSTRONG_POLICY_FILE"]
    # secrets are named, never shown
    logged = json.dumps(lines)
    assert env["TEMPSTRONG_HASH_KEY"] not in logged


@pytest.mark.parametrize("command", ["api", "projector", "publisher", "delivery", "migrate"])
def test_help_lists_every_variable_the_command_reads(tmp_path, command):
    result = run([command, "--help"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    variables = variables_of(command)
    assert variables, command
    for variable in variables:
        assert variable.name in result.stdout, (command, variable.name)
        if variable.default is not None:
            assert f"[default: {variable.default}]" in result.stdout, (command, variable.name)


def test_keys_says_which_variable_each_file_goes_into(tmp_path):
    result = run(["keys", "--out", "k"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    for variable in (
        "TEMPSTRONG_JWKS",
        "TEMPSTRONG_DELIVERY_PUBLIC_KEY",
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY",
        "TEMPSTRONG_HASH_KEY",
    ):
        assert f"export {variable}=" in result.stdout, variable


@pytest.mark.parametrize(
    ("keyring", "says"),
    [
        (None, "missing setting(s): TEMPSTRONG_PERSONAL_DATA_KEYS"),
        ("/nonexistent/keyring.json", "cannot be read"),
        ('{"keys": []}', "holds no key"),
        ('{"keys": [{"id": "k1", "key": "c2hvcnQ="}]}', "must decode to 32 bytes"),
    ],
)
@pytest.mark.parametrize("process", ["api", "delivery"])
def test_a_missing_or_unusable_keyring_is_one_line(
    tmp_path, fresh_database, keyring, says, process
):
    env = {
        **_api_env(tmp_path, fresh_database, free_port()),
        "TEMPSTRONG_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY": (tmp_path / "k" / "delivery-private.key")
        .read_text()
        .strip(),
        "TEMPSTRONG_SMTP_URL": "smtp://127.0.0.1:25",
    }
    if keyring is None:
        del env["TEMPSTRONG_PERSONAL_DATA_KEYS"]
    else:
        env["TEMPSTRONG_PERSONAL_DATA_KEYS"] = keyring
    line = _refusal(run([process], env, tmp_path), "TEMPSTRONG_PERSONAL_DATA_KEYS")
    assert says in line and "c2hvcnQ=" not in line


@pytest.mark.parametrize("command", [["migrate"], ["rebuild", "credentials"], ["rewrap"]])
def test_a_missing_database_is_one_line_naming_the_setting(tmp_path, command):
    missing = "postgresql://postgres@127.0.0.1:5432/nc_db_that_is_not_there"
    (tmp_path / "ring.json").write_text(json.dumps(new_keyring_document()))
    keyring = str(tmp_path / "ring.json")
    env = {"TEMPSTRONG_DATABASE_URL": missing, "TEMPSTRONG_PERSONAL_DATA_KEYS": keyring}
    line = _refusal(run(command, env, tmp_path), "TEMPSTRONG_DATABASE_URL")
    assert "database nc_db_that_is_not_there does not exist" in line
    unreachable = {**env, "TEMPSTRONG_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"}
    assert "connection refused" in _refusal(run(command, unreachable, tmp_path), "DATABASE_URL")


def test_a_worker_says_in_words_why_the_database_is_not_reachable(tmp_path):
    env = {"TEMPSTRONG_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/nc_db_not_there"}
    log = tmp_path / "projector.log"
    process = start(["projector"], env, tmp_path, log)
    deadline = time.monotonic() + 30
    while "PostgreSQL not reachable" not in log.read_text():  # its first retry line
        assert time.monotonic() < deadline and process.poll() is None, log.read_text()
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    retries = [line for line in lines if line["message"] == "PostgreSQL not reachable, retrying"]
    assert retries and all(
        line["reason"] == "database nc_db_not_there does not exist on 127.0.0.1:5432"
        for line in retries
    )
    assert not any("Traceback" in json.dumps(line) for line in lines)
