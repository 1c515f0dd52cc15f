from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SettableClock:
    """Real time plus an offset that tests can only move forward (shared by concurrent tests)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)
