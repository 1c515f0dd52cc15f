"""Run `tempstrong` subcommands as real processes, and wait for their HTTP port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tempstrong_command() -> list[str]:
    script = Path(sys.executable).parent / "tempstrong"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


def free_port() -> int:
    (port,) = free_ports(1)
    return port


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free (all bound at once, then let go)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start(
    args: list[str], env: dict[str, str], cwd: Path, log: Path | None = None
) -> subprocess.Popen[str]:
    """With `log`, standard error (the log lines) goes to that file, read while it runs."""
    with contextlib.ExitStack() as files:
        stderr = files.enter_context(log.open("w")) if log is not None else subprocess.PIPE
        return subprocess.Popen(
            tempstrong_command() + args,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tempstrong_command() + args,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_http(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"process exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def api_env(workdir: Path, port: int) -> dict[str, str]:
    """Dev keys in `workdir/k`, the test policy file, and the API's settings that use them."""
    from tests.support.policies import POLICY_FILE

    assert run(["keys", "--out", "k"], {}, workdir).returncode == 0
    (workdir / "policies.yaml").write_text(POLICY_FILE)
    keys = workdir / "k"
    return {
        "TEMPSTRONG_JWKS": str(keys / "jwks.json"),
        "TEMPSTRONG_JWT_ISSUER": "tempstrong-dev",
        "TEMPSTRONG_JWT_AUDIENCE": "tempstrong",
        "TEMPSTRONG_POLICY_FILE": str(workdir / "policies.yaml"),
        "TEMPSTRONG_DELIVERY_PUBLIC_KEY": (keys / "delivery-public.key").read_text().strip(),
        "TEMPSTRONG_HASH_KEY": (keys / "hash.key").read_text().strip(),
        "TEMPSTRONG_PERSONAL_DATA_KEYS": str(keys / "personal-data-keys.json"),
        "TEMPSTRONG_HTTP_PORT": str(port),
    }
