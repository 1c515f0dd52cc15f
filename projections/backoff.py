"""How a sink says "not now": the follower backs off and retries, without a traceback."""

from __future__ import annotations


class BackOff(Exception):
    """An expected, passing condition (the broker away, an event retried before parking)."""
