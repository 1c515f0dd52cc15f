"""Fakes that subclass the worker's ports (no Mock): they record what they were asked to do."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from service.contracts.envelope import SealedDelivery
from service.delivery.channels import Channel
from service.delivery.dedup import MemoryDedup
from service.delivery.failures import DependencyUnavailable
from service.delivery.supersession import SupersessionCheck


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

    async def superseded(self, credential_id: UUID, version: int) -> bool:
        if self.unavailable:
            raise DependencyUnavailable("event store lookup failed (FakeOutage)")
        return self.latest.get(credential_id, version) > version


class FlakyDedup(MemoryDedup):
    """Fails the first `record_failures` records (and every lookup while `down`)."""

    def __init__(self, record_failures: int = 0) -> None:
        super().__init__()
        self.record_failures = record_failures
        self.down = False

    async def delivered(self, message_id: str) -> bool:
        if self.down:
            raise DependencyUnavailable("dedup lookup failed (FakeOutage)")
        return await super().delivered(message_id)

    async def record(self, message_id: str) -> None:
        if self.record_failures > 0:
            self.record_failures -= 1
            raise DependencyUnavailable("dedup record failed (FakeOutage)")
        await super().record(message_id)
