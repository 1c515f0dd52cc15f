"""Progress of a long command (`import`, `rebuild`, `rewrap`) on standard error: a bar on a
terminal (tqdm: done, rate, time left), otherwise one JSON line a second and one at the end, for
logs and scripts."""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

from tqdm import tqdm

JSON_INTERVAL_SECONDS = 1.0


class Progress:
    def __init__(
        self,
        command: str,
        unit: str,
        total: int | None,
        stream: IO[str] | None = None,
        *,
        interval: float = JSON_INTERVAL_SECONDS,
    ) -> None:
        self._command = command
        self._unit = unit
        self._total = total
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._done = 0
        self._counts: dict[str, int] = {}
        self._started = time.monotonic()
        self._said_at = self._started
        self._bar: tqdm[Any] | None = None
        if self._stream.isatty():
            self._bar = tqdm(
                total=total, unit=f" {unit}", unit_scale=True, file=self._stream, desc=command
            )

    def advance(self, done: int, **counts: int) -> None:
        """`done` more units, and what they came to (e.g. imported=, existed=, skipped=)."""
        self._done += done
        for name, count in counts.items():
            self._counts[name] = self._counts.get(name, 0) + count
        if self._bar is not None:
            self._bar.update(done)
            if self._counts:
                self._bar.set_postfix(self._counts, refresh=False)
        elif time.monotonic() - self._said_at >= self._interval:
            self._say()

    def reach(self, done: int, **counts: int) -> None:
        """For a command that knows its running total rather than each step."""
        self.advance(done - self._done, **counts)

    def close(self) -> dict[str, Any]:
        """Ends the bar (or says the last line); returns the final figures."""
        if self._bar is not None:
            self._bar.close()
        else:
            self._say(final=True)
        return self._figures()

    def _figures(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self._done / elapsed
        figures: dict[str, Any] = {
            "command": self._command,
            "unit": self._unit,
            "done": self._done,
            "total": self._total,
            "rate_per_second": round(rate, 1),
            "elapsed_seconds": round(elapsed, 1),
            **self._counts,
        }
        if self._total is not None and rate > 0:
            figures["eta_seconds"] = round(max(self._total - self._done, 0) / rate, 1)
        return figures

    def _say(self, final: bool = False) -> None:
        self._said_at = time.monotonic()
        line = {"progress": "done" if final else "running", **self._figures()}
        print(json.dumps(line), file=self._stream, flush=True)
