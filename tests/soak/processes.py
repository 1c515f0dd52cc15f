"""The soak's processes: two APIs, the projector, the publisher and the delivery worker, each a
real `tempstrong` process whose output goes to a file (a pipe nobody reads would block it)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.process import tempstrong_command, wait_http


@dataclass
class Managed:
    name: str
    args: list[str]
    env: dict[str, str]
    health_url: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, cwd: Path) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                tempstrong_command() + self.args,
                cwd=cwd,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=out,
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        wait_http(self.health_url, self.process, timeout)  # type: ignore[arg-type]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Fleet:
    cwd: Path
    members: dict[str, Managed] = field(default_factory=dict)

    def add(self, member: Managed) -> None:
        self.members[member.name] = member
        member.start(self.cwd)

    def wait_ready(self) -> None:
        for member in self.members.values():
            member.wait_ready()

    def restart(self, name: str) -> None:
        member = self.members[name]
        member.kill()
        member.start(self.cwd)

    def ensure_running(self) -> None:
        for member in self.members.values():
            if not member.alive:
                member.start(self.cwd)
        deadline = time.monotonic() + 60
        for member in self.members.values():
            member.wait_ready(max(1.0, deadline - time.monotonic()))

    def stop_all(self) -> dict[str, int | None]:
        return {name: member.stop() for name, member in self.members.items()}
