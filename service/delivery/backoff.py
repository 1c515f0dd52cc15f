"""Exponential backoff: base, 2 * base, 4 * base, ... capped."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_SECONDS = 5.0
DEFAULT_CAP_SECONDS = 300.0


@dataclass(frozen=True)
class Backoff:
    base: float = DEFAULT_BASE_SECONDS
    cap: float = DEFAULT_CAP_SECONDS

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        exponent = max(0, min(attempt - 1, 62))
        return min(self.cap, self.base * float(2**exponent))

    def delays(self, max_attempts: int) -> list[float]:
        """Every distinct delay a message can wait before its last attempt."""
        return sorted({self.delay(attempt) for attempt in range(1, max_attempts + 1)})
