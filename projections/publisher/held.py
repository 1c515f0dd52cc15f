"""The events the publisher has not published yet, one lane per credential, and when to retry.

An event the broker refuses (or that cannot be decoded or encoded) is *held*: set aside with
the later events of its credential, which wait behind it, while every other credential's
events go on. It is retried after 1, 2 and 4 seconds, and parked once the next retry would come
more than PARK_AFTER_SECONDS after its first failure: at most four attempts, parked about 7 s
after the first refusal. A held event whose head is published or parked lets the next one of its
credential go at once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from service.domain.ids import event_id as event_id_of

from ..parking import ParkedEvent
from .messages import Outgoing

# The contract (docs/consumers.md): a refused event is parked within 10 s of its first refusal.
PARK_AFTER_SECONDS = 8.0
RETRY_DELAYS_SECONDS = (1.0, 2.0, 4.0)
WAITING = "waiting behind an earlier event of its credential"


@dataclass(eq=False)
class Pending:
    """An event not published yet: new in the batch at hand, or held since an earlier one."""

    notification: Notification
    attempts: int = 0
    first_failed: float | None = None  # monotonic seconds; None until it failed once
    reason: str = WAITING
    due: float = -math.inf  # when it may be tried (again)
    # its messages the broker has not confirmed yet; None until encoded
    unsent: list[Outgoing] | None = None
    domain_event: Any = None
    stored: bool = False  # a held row exists for it
    changed: bool = True  # the held row (if any) is out of date

    @property
    def lane(self) -> UUID:
        return UUID(str(self.notification.originator_id))

    @property
    def event_id(self) -> UUID:
        return event_id_of(self.lane, self.notification.originator_version)

    def failed(self, reason: str, now: float, park_after: float) -> bool:
        """Counts the failure and schedules the next attempt; True when it is due to be parked
        (the next attempt would come too late)."""
        self.attempts += 1
        self.reason = reason
        self.changed = True
        if self.first_failed is None:
            self.first_failed = now
        delay = RETRY_DELAYS_SECONDS[min(self.attempts, len(RETRY_DELAYS_SECONDS)) - 1]
        self.due = now + delay
        return self.due - self.first_failed > park_after

    def as_row(self, follower: str, *, held: bool) -> ParkedEvent:
        return ParkedEvent(
            follower,
            self.notification.id,
            self.lane,
            self.notification.originator_version,
            self.notification.topic,
            self.reason,
            self.attempts,
            held=held,
        )


@dataclass
class Lanes:
    """Per credential, its unpublished events in notification order; only a lane's head is
    ever tried."""

    _lanes: dict[UUID, deque[Pending]] = field(default_factory=dict)

    def add(self, pending: Pending) -> None:
        self._lanes.setdefault(pending.lane, deque()).append(pending)

    def holds(self, lane: UUID) -> bool:
        return lane in self._lanes

    def due(self, now: float) -> list[Pending]:
        return [lane[0] for lane in self._lanes.values() if lane[0].due <= now]

    def remove_head(self, pending: Pending) -> None:
        lane = self._lanes[pending.lane]
        assert lane[0] is pending
        lane.popleft()
        if not lane:
            del self._lanes[pending.lane]

    def retry_in(self, now: float) -> float | None:
        """Seconds until a head is due; None when nothing is held."""
        if not self._lanes:
            return None
        return max(min(lane[0].due for lane in self._lanes.values()) - now, 0.0)

    def __iter__(self) -> Iterator[Pending]:
        for lane in self._lanes.values():
            yield from lane

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    @classmethod
    def of(cls, pending: Iterable[Pending]) -> Lanes:
        lanes = cls()
        for item in pending:
            lanes.add(item)
        return lanes
