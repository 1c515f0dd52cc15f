"""Follow the event store's notification log from a tracked position, batch by batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import Notification, PersistenceError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service.eventstore.notifications import NotificationSource
from service.eventstore.port import StoreUnavailable

from .parking import ParkedEvent
from .retry_later import RetryLater

BACKOFF_CAP_SECONDS = 5.0
HEAD_READ_SECONDS = 1.0
IDLE_WAIT_SECONDS = 1.0
MIN_IDLE_WAIT_SECONDS = 0.01

log = logging.getLogger("tempstrong.follower")
_EXPECTED_OUTAGES = (OSError, TimeoutError, StoreUnavailable, PersistenceError, RetryLater)


@dataclass(frozen=True)
class Handled:
    """What a sink did with a batch (or when idle): the newest applied event's time (epoch
    seconds), the events it parked, and in how many seconds it wants `idle` called even if no
    new event comes (None: only when one comes, or IDLE_WAIT_SECONDS)."""

    newest: float | None = None
    parked: Sequence[ParkedEvent] = ()
    retry_in: float | None = None


class Sink(Protocol):
    """Applies a batch and records `batch[-1].id` as its position in one transaction."""

    name: str

    async def position(self) -> int: ...

    async def handle(self, batch: Sequence[Notification]) -> Handled: ...

    async def idle(self) -> Handled:
        """Called when no new event came for a while (at least every IDLE_WAIT_SECONDS): a
        sink that set events aside retries them here."""
        ...


class FollowerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag_events = Gauge(
            "tempstrong_projection_lag_events",
            "Events recorded but not yet applied, per follower",
            ["follower"],
            registry=registry,
        )
        self.lag_seconds = Gauge(
            "tempstrong_projection_lag_seconds",
            "Age of the oldest event not yet applied, per follower (0 when caught up)",
            ["follower"],
            registry=registry,
        )
        self.applied = Counter(
            "tempstrong_follower_events_total",
            "Events applied, per follower",
            ["follower"],
            registry=registry,
        )
        self.errors = Counter(
            "tempstrong_follower_errors_total",
            "Errors that made a follower back off, per follower",
            ["follower"],
            registry=registry,
        )
        self.apply_latency = Histogram(
            "tempstrong_projection_apply_latency_seconds",
            "From an event's commit to its application, per follower",
            ["follower"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.parked = Counter(
            "tempstrong_parked_total",
            "Events a follower gave up on and parked, per follower",
            ["follower"],
            registry=registry,
        )
        self.parked_waiting = Gauge(
            "tempstrong_parked_events",
            "Parked events not republished (publisher) or rebuilt over (views), per follower",
            ["follower"],
            registry=registry,
        )
        self.heartbeat = Gauge(
            "tempstrong_follower_heartbeat_timestamp_seconds",
            "Last time the follower loop ran, per follower",
            ["follower"],
            registry=registry,
        )


class Follower:
    """Runs one sink over the notification log until `stop` is set; backs off on errors."""

    def __init__(
        self,
        source: NotificationSource,
        sink: Sink,
        metrics: FollowerMetrics,
        *,
        batch_size: int = 500,
    ) -> None:
        self._source = source
        self._sink = sink
        self._metrics = metrics
        self._batch_size = batch_size
        self.position = 0
        self._known_head = 0
        self._head_read_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        idle_wait = IDLE_WAIT_SECONDS
        position: int | None = None
        name = self._sink.name
        while not stop.is_set():
            try:
                if position is None:
                    position = await self._sink.position()
                batch = await self._source.read_after(position, self._batch_size)
                if batch:
                    handled = await self._sink.handle(batch)
                    position = batch[-1].id
                    self._metrics.applied.labels(name).inc(len(batch))
                else:
                    await self._source.wait_for_new(idle_wait)
                    handled = await self._sink.idle()
                self._report_parked(handled.parked)
                idle_wait = _idle_wait(handled.retry_in)
                self.position = position
                await self._observe_lag(position, handled.newest, len(batch) < self._batch_size)
                backoff = 0.1
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this follower is being stopped
                # a future of a client library cancelled under us (its connection dropped):
                # an outage like the others, not the end of the loop
                backoff = await self._back_off(stop, backoff, "CancelledError", trace=False)
                position = None
            except Exception as exc:
                # Database or broker outages, and bugs too: the loop must outlive them all,
                # and the error counter shows that it is stuck.
                trace = not isinstance(exc, _EXPECTED_OUTAGES)
                backoff = await self._back_off(stop, backoff, type(exc).__name__, trace=trace)
                position = None  # re-read: the sink may have committed before the error

    async def _back_off(
        self, stop: asyncio.Event, backoff: float, error: str, trace: bool
    ) -> float:
        """Counts and logs the error, waits `backoff`; returns the next wait."""
        name = self._sink.name
        self._metrics.errors.labels(name).inc()
        log.warning(
            "follower backing off", exc_info=trace, extra={"follower": name, "error": error}
        )
        await self._source.reset()
        await _sleep_or_stop(stop, backoff)
        return min(backoff * 2, BACKOFF_CAP_SECONDS)

    def _report_parked(self, parked: Sequence[ParkedEvent]) -> None:
        for event in parked:
            self._metrics.parked.labels(self._sink.name).inc()
            log.warning(
                "event parked",
                extra={
                    "follower": self._sink.name,
                    "event_id": str(event.event_id),
                    "reason": event.reason,
                },
            )

    async def _head(self, position: int, caught_up: bool, now: float) -> int:
        """The log's head. A read that returned less than a full batch reached it; while
        catching up it is read at most once a second (a query per batch cost the projector a
        tenth of its time)."""
        if caught_up:
            self._known_head = max(self._known_head, position)
            return position
        if now - self._head_read_at >= HEAD_READ_SECONDS:
            self._known_head = await self._source.head()
            self._head_read_at = now
        return max(self._known_head, position)

    async def _observe_lag(self, position: int, newest: float | None, caught_up: bool) -> None:
        name = self._sink.name
        now = time.time()
        self._metrics.heartbeat.labels(name).set(now)
        if newest is not None:
            self._metrics.apply_latency.labels(name).observe(max(now - newest, 0.0))
        head = await self._head(position, caught_up, now)
        self._metrics.lag_events.labels(name).set(max(head - position, 0))
        if head <= position:
            self._metrics.lag_seconds.labels(name).set(0)
        elif newest is not None:
            self._metrics.lag_seconds.labels(name).set(max(now - newest, 0.0))


def _idle_wait(retry_in: float | None) -> float:
    if retry_in is None:
        return IDLE_WAIT_SECONDS
    return min(max(retry_in, MIN_IDLE_WAIT_SECONDS), IDLE_WAIT_SECONDS)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
