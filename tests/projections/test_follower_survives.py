"""The follower outlives whatever a batch throws, including a CancelledError that a client
library's future raises when its connection drops; only its own cancellation stops it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import uuid4

import pytest
from eventsourcing.persistence import Notification
from prometheus_client import CollectorRegistry

from projections import follower as following
from projections.follower import Follower, FollowerMetrics, Handled


class Log:
    def __init__(self, count: int) -> None:
        self.notifications = [
            Notification(id=n, originator_id=uuid4(), originator_version=1, topic="t", state=b"{}")
            for n in range(1, count + 1)
        ]

    async def read_after(self, position: int, limit: int) -> Sequence[Notification]:
        return [n for n in self.notifications if n.id > position][:limit]

    async def wait_for_new(self, seconds: float) -> None:
        await asyncio.sleep(0.01)

    async def head(self) -> int:
        return len(self.notifications)

    async def reset(self) -> None:
        return None

    async def close(self) -> None:
        return None


class FailsFirst:
    name = "test"

    def __init__(self, failure: BaseException) -> None:
        self._failure: BaseException | None = failure
        self.stored = 0
        self.applied: list[int] = []

    async def position(self) -> int:
        return self.stored

    async def handle(self, batch: Sequence[Notification]) -> Handled:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        self.applied.extend(n.id for n in batch)
        self.stored = batch[-1].id
        return Handled()

    async def idle(self) -> Handled:
        return Handled()


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("a bug"), asyncio.CancelledError(), OSError("gone")],
    ids=["bug", "stray-cancel", "outage"],
)
async def test_the_follower_backs_off_and_applies_every_event(monkeypatch, failure):
    monkeypatch.setattr(following, "HEAD_READ_SECONDS", 0.0)
    sink = FailsFirst(failure)
    metrics = FollowerMetrics(CollectorRegistry())
    loop = Follower(Log(7), sink, metrics, batch_size=3)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    for _ in range(200):
        if sink.applied == list(range(1, 8)):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sink.applied == list(range(1, 8))
    assert metrics.errors.labels("test")._value.get() == 1


async def test_cancelling_the_follower_stops_it():
    sink = FailsFirst(RuntimeError("never raised before the cancel"))
    sink._failure = None
    task = asyncio.create_task(
        Follower(Log(0), sink, FollowerMetrics(CollectorRegistry())).run(asyncio.Event())
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
