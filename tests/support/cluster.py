"""Several `tempstrong` processes on one database: what a deployment with many pods looks like."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from service.security.permissions import Permission
from tests.support.process import api_env, free_port, run, start, wait_http


@dataclass
class ApiCluster:
    workdir: Path
    env: dict[str, str]
    ports: list[int]
    token: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def base(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def log(self, index: int) -> Path:
        """The process's log lines, when the cluster was started with `logs=True`."""
        return self.workdir / f"api-{index}.log"


def stop(process: subprocess.Popen[str], timeout: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def admin_token(workdir: Path) -> str:
    args = ["token", "--keys", "k", "--client", "*", "--lifetime", "7200", "--permissions"]
    return run([*args, *(p.value for p in Permission)], {}, workdir).stdout.strip()


@contextmanager
def api_cluster(
    workdir: Path,
    database_url: str,
    count: int = 2,
    extra_env: dict[str, str] | None = None,
    *,
    logs: bool = False,
) -> Iterator[ApiCluster]:
    """`count` API processes (after `tempstrong migrate`), each on its own port; with `logs`,
    each writes its log to `cluster.log(index)`."""
    env = {"TEMPSTRONG_DATABASE_URL": database_url, **(extra_env or {})}
    migrated = run(["migrate"], env, workdir)
    assert migrated.returncode == 0, migrated.stderr
    env.update(api_env(workdir, 0))
    ports = [free_port() for _ in range(count)]
    cluster = ApiCluster(workdir, env, ports, admin_token(workdir))
    try:
        for index, port in enumerate(ports):
            log = cluster.log(index) if logs else None
            process = start(["api"], {**env, "TEMPSTRONG_HTTP_PORT": str(port)}, workdir, log)
            cluster.processes.append(process)
            wait_http(f"http://127.0.0.1:{port}/readyz", process)
        yield cluster
    finally:
        for process in cluster.processes:
            stop(process)
