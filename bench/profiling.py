"""Optional (`--profile`): py-spy on the API under wrk load, and pg_stat_activity wait sampling.

py-spy needs ptrace rights (root, or CAP_SYS_PTRACE). Three recordings, each during its own wrk run:
py-spy's default (threads it thinks are running; note that psycopg's `wait_poll` counts as
running), `--gil` (only the thread holding the GIL: where Python CPU goes) and `--idle` (all
threads, also where they wait, e.g. for a pool connection or the LOCK TABLE).
The raw (collapsed-stack) output is summarized into self and inclusive shares by function and by
category.
"""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

# Category -> regex on a frame "function (file:line)". First match wins for the leaf frame.
CATEGORIES: list[tuple[str, str]] = [
    ("jwt / signature verification", r"jwt/|cryptography|ed25519|verify_token|TokenVerifier"),
    ("sealing (nacl)", r"nacl/|sealing\.py"),
    ("password hashing", r"hashlib|password\.py|hmac\.py"),
    ("psycopg (db driver)", r"psycopg"),
    ("asyncpg (db driver)", r"asyncpg/"),
    ("eventsourcing library", r"eventsourcing/"),
    ("json / transcoding", r"json/|orjson|transcod"),
    ("aiohttp", r"aiohttp/"),
    ("asyncio event loop", r"asyncio/"),
    ("thread pool / locks", r"concurrent/futures|threading\.py|queue\.py"),
    ("logging", r"logging/|service/observability/logs\.py"),
    ("prometheus metrics", r"prometheus_client"),
    ("service code", r"/service/|/projections/"),
]


def py_spy_path() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_record(pid: int, seconds: int, out: Path, *, mode: str) -> subprocess.Popen[bytes]:
    """mode: "cpu" (py-spy's default), "gil" (only the thread holding the GIL), "idle" (all)."""
    spy = py_spy_path()
    if spy is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    command = [spy, "record", "--pid", str(pid), "-d", str(seconds), "-r", "200"]
    command += ["--format", "raw", "-o", str(out), "--nonblocking"]
    if mode in ("gil", "idle"):
        command.append(f"--{mode}")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarize_raw(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares from py-spy's collapsed stacks ("a;b;c count")."""
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    category_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        self_counts[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            incl_counts[frame] += count
        category_counts[_category(frames)] += count

    def share(counter: collections.Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": k, "percent": round(100 * v / total, 1)} for k, v in counter.most_common(top)
        ]

    return {
        "samples": total,
        "self_top": share(self_counts),
        "inclusive_top": share(incl_counts),
        "leaf_category": share(category_counts),
    }


def _short(frame: str) -> str:
    # "func (/long/path/site-packages/pkg/mod.py:123)" -> "func (pkg/mod.py:123)"
    return re.sub(r"\(.*?(?:site-packages|lib/python3\.\d+|/work/[^/]+)/", "(", frame)


def _category(frames: list[str]) -> str:
    """The category of the innermost frame that matches one (leaf-first)."""
    for frame in reversed(frames):
        for name, pattern in CATEGORIES:
            if re.search(pattern, frame):
                return name
    return "other"


async def sample_db_waits(database_url: str, name: str, seconds: float) -> dict[str, Any]:
    """Every 50 ms, counts the API's backends by state / wait event (e.g. Lock:relation)."""
    counts: collections.Counter[str] = collections.Counter()
    samples = 0
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rows = await connection.fetch(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'",
                name,
            )
            samples += 1
            for row in rows:
                if row["state"] == "idle":
                    key = "idle"
                else:
                    wait = f"{row['wait_event_type']}:{row['wait_event']}"
                    key = f"{row['state']} / {wait if row['wait_event_type'] else 'on CPU'}"
                counts[key] += 1
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    return {
        "samples": samples,
        "mean_backends_by_state": {k: round(v / samples, 2) for k, v in counts.most_common()}
        if samples
        else {},
    }


def profile_available() -> str | None:
    """None when py-spy can run, else why not."""
    if py_spy_path() is None:
        return "py-spy is not installed (pip install py-spy)"
    return None


async def wait_process(process: subprocess.Popen[bytes], limit_s: float) -> str:
    deadline = time.monotonic() + limit_s
    while process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    if process.poll() is None:
        process.kill()
        process.wait(5)
        return "py-spy did not finish in time"
    _, err = process.communicate(timeout=5)
    return "" if process.returncode == 0 else err.decode(errors="replace")[-500:]
