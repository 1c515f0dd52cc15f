"""Where the machine's CPU goes while a phase runs: each tempstrong process, PostgreSQL,
RabbitMQ, the benchmark process itself (clients, observers, SMTP sink), and the whole machine.

Read from /proc: user + system seconds per process before and after; the machine's busy time
from /proc/stat. PostgreSQL's backends that exit during the phase are not counted (the pools
keep theirs open, so this is a lower bound for PostgreSQL).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import infra


def pids_named(*names: str) -> list[int]:
    """Live processes whose command name is one of `names` (PostgreSQL, RabbitMQ's beam)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            found.append(int(entry.name))
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuAccount:
    """`start()` before the phase, `result(events)` after: CPU ms per event by process group."""

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        self._groups = {
            **{name: list(pids) for name, pids in groups.items()},
            "postgresql": pids_named("postgres"),
            "rabbitmq": pids_named("beam.smp"),
        }
        self._before: dict[str, float] = {}
        self._own = self._busy = self._wall = 0.0

    def _seconds(self) -> dict[str, float]:
        return {
            name: sum(infra.proc_cpu_seconds(pid) for pid in pids)
            for name, pids in self._groups.items()
        }

    def start(self) -> None:
        self._before = self._seconds()
        self._own = time.process_time()
        self._busy = machine_busy_seconds()
        self._wall = time.monotonic()

    def result(self, events: int) -> dict[str, Any]:
        after = self._seconds()
        spent = {name: after[name] - self._before.get(name, 0.0) for name in after}
        spent["bench process"] = time.process_time() - self._own
        wall = time.monotonic() - self._wall
        busy = machine_busy_seconds() - self._busy
        per_event = {
            name: round(1000 * seconds / events, 3) if events else None
            for name, seconds in spent.items()
        }
        return {
            "what": "CPU ms per reset from the first reset to the last observed result, by process",
            "cpu_ms_per_reset": per_event,
            "machine_cpu_ms_per_reset": round(1000 * busy / events, 3) if events else None,
            "machine_busy_cores": round(busy / wall, 2) if wall else None,
            "cores": os.cpu_count(),
            "seconds": round(wall, 1),
        }
