"""Fakes that subclass the worker's ports (no Mock): they record what they were asked to do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from service.contracts.envelope import SealedDelivery
from service.delivery.channels import Channel
from service.delivery.dedup import Claims, MemoryDedup
from service.delivery.failures import DependencyUnavailable
from service.delivery.supersession import SupersessionCheck, Version


class FakeChannel(Channel):
    """Accepts every message, or raises the scripted failures first, one per call."""

    def __init__(self, failures: Iterable[Exception] = ()) -> None:
        self.sent: list[SealedDelivery] = []
        self.calls = 0
        self._failures = list(failures)

    async def send(self, message: SealedDelivery) -> None:
        self.calls += 1
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(message)


class FakeSupersession(SupersessionCheck):
    def __init__(self) -> None:
        self.latest: dict[UUID, int] = {}
        self.unavailable = False
        self.queries = 0

    async def superseded(self, versions: Sequence[Version]) -> set[Version]:
        self.queries += 1
        if self.unavailable:
            raise DependencyUnavailable("event store lookup failed (FakeOutage)")
        return {(cid, v) for cid, v in versions if self.latest.get(cid, v) > v}


class FlakyDedup(MemoryDedup):
    """Fails the first `record_failures` records (and every claim while `down`)."""

    def __init__(self, record_failures: int = 0) -> None:
        super().__init__()
        self.record_failures = record_failures
        self.down = False
        self.claims = 0

    async def claim(self, keys: Sequence[str]) -> Claims:
        self.claims += 1
        if self.down:
            raise DependencyUnavailable("dedup claim failed (FakeOutage)")
        return await super().claim(keys)

    async def record(self, sent: Sequence[str]) -> None:
        if self.record_failures > 0:
            self.record_failures -= 1
            raise DependencyUnavailable("dedup record failed (FakeOutage)")
        await super().record(sent)
