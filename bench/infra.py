"""Plumbing of the benchmark: wrk, a throwaway database and vhost, child processes, machine facts.

Everything here talks to 127.0.0.1 only and cleans up after itself; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


# --- wrk -------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """Returns the path of wrk; installs it with apt-get when running as root, else explains."""
    found = shutil.which("wrk")
    if found:
        return found
    hint = "wrk is not installed: run `apt-get install -y wrk` (Debian/Ubuntu) or build it from "
    hint += "https://github.com/wg/wrk, then run the benchmark again."
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BenchError(hint)
    print("wrk not found; installing it with apt-get (running as root) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise BenchError(f"{hint}\n`{' '.join(command)}` failed:\n{done.stderr[-2000:]}")
    found = shutil.which("wrk")
    if not found:
        raise BenchError(hint)
    return found


# --- ports, URLs -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def database_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


# --- a throwaway PostgreSQL database ----------------------------------------------------------


@dataclass
class Database:
    admin_url: str
    name: str = field(default_factory=lambda: f"bench_{secrets.token_hex(5)}")

    @property
    def url(self) -> str:
        return database_url(self.admin_url, self.name)

    @contextlib.asynccontextmanager
    async def _admin(self) -> AsyncIterator[asyncpg.Connection]:
        connection = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            yield connection
        finally:
            await connection.close()

    async def create(self) -> None:
        async with self._admin() as connection:
            await connection.execute(f'CREATE DATABASE "{self.name}"')

    async def drop(self) -> None:
        async with self._admin() as connection:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.name,
            )
            await connection.execute(f'DROP DATABASE IF EXISTS "{self.name}"')

    async def server_version(self) -> str:
        async with self._admin() as connection:
            return str(await connection.fetchval("SELECT version()"))


# --- a throwaway RabbitMQ vhost (only for the steady-rate pipeline) ---------------------------


@dataclass
class Vhost:
    host: str = f"{LOOPBACK}:5672"
    name: str = field(default_factory=lambda: f"bench_{secrets.token_hex(5)}")
    created: bool = False

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}/{self.name}"

    def create(self) -> None:
        if shutil.which("rabbitmqctl") is None:
            raise BenchError("rabbitmqctl not found (needed for a private RabbitMQ vhost)")
        _rabbitmqctl("add_vhost", self.name)
        self.created = True
        _rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    def queues(self) -> dict[str, int]:
        """Messages (ready + unacknowledged) per queue of the vhost, from rabbitmqctl."""
        command = ["rabbitmqctl", "-q", "list_queues", "-p", self.name, "name", "messages"]
        done = subprocess.run(
            [*command, "--no-table-headers"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise BenchError(f"rabbitmqctl list_queues failed: {done.stderr.strip()[-500:]}")
        out: dict[str, int] = {}
        for line in done.stdout.splitlines():
            name, _, messages = line.rpartition("\t")
            if name and messages.strip().isdigit():
                out[name] = int(messages)
        return out

    def delete(self) -> None:
        if self.created:
            _rabbitmqctl("delete_vhost", self.name)
            self.created = False


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()[-500:]}")


# --- child processes ---------------------------------------------------------------------------


def tempstrong_command() -> list[str]:
    """The project's console script next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "tempstrong"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tempstrong")
    if found:
        return [found]
    raise BenchError("the `tempstrong` console script is not installed (pip install -e .)")


@dataclass(frozen=True)
class Finished:
    """A command that exited 0: its wall time (start to exit) and what it printed."""

    seconds: float
    stdout: str
    stderr: str


def run_timed(command: Sequence[str], env: dict[str, str], timeout: float = 120) -> Finished:
    """Runs the command to its end (killed after `timeout`); BenchError unless it exits 0."""
    started = time.perf_counter()
    done = subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(
            f"`{' '.join(command)}` exited {done.returncode}:\n{done.stderr.strip()[-3000:]}"
        )
    return Finished(seconds, done.stdout, done.stderr)


def run_checked(command: Sequence[str], env: dict[str, str], timeout: float = 120) -> str:
    return run_timed(command, env, timeout).stdout


class Child:
    """A child process in its own session, its output in a log file; stopped by its pid only."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            list(command),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    async def wait_http_ready(self, url: str, limit_s: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + limit_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise BenchError(
            f"{self.name} not ready at {url} within {limit_s:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM, then SIGKILL after `timeout`; only this child's pid."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        finally:
            self._log.close()


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of a live process, in KiB, from /proc/<pid>/status."""
    wanted = ("VmHWM", "VmRSS", "Threads")
    values: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in wanted:
                values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return values


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (and its threads), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


# --- machine facts -----------------------------------------------------------------------------


def scrape_counters(metrics_url: str, names: Sequence[str]) -> dict[str, float]:
    """Prometheus counters (`<name>_total`, unlabelled) from a /metrics page; 0 when absent."""
    import urllib.request

    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    values = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.removesuffix("_total") in values:
            values[name.removesuffix("_total")] = float(value)
    return values


def machine_info(postgres_version: str) -> dict[str, object]:
    cpu_model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    wrk_version = ""
    wrk = shutil.which("wrk")
    if wrk:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
            wrk_version = (out.stdout or out.stderr).strip().splitlines()[0]
    return {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_mib": mem_kib // 1024,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgresql": postgres_version,
        "wrk": wrk_version,
        "loadavg_at_start": list(os.getloadavg()),
    }
