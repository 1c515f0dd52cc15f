from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SettableClock:
    """Real time plus an offset that tests can only move forward (shared by concurrent tests)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class SettableMonotonic:
    """`time.monotonic()` plus an offset that a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
