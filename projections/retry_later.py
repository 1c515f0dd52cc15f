"""How a sink says "not now": the follower waits and retries, without a traceback."""

from __future__ import annotations


class RetryLater(Exception):
    """An expected, passing condition (the broker away, an event retried before parking)."""
