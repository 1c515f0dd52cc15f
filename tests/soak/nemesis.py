"""Faults, at random: SIGKILL and restart of the projector, publisher or delivery worker, a
restart of RabbitMQ's application, and the termination of the database's backends."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import asyncpg

from tests.soak.processes import Fleet
from tests.support.amqp import start_broker, stop_broker

KILLABLE = ("projector", "publisher", "delivery")


class Nemesis:
    def __init__(self, fleet: Fleet, database_url: str, seed: int) -> None:
        self._fleet = fleet
        self._database_url = database_url
        self._rng = random.Random(seed)
        self.faults: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self._rng.uniform(2.0, 5.0))
                return
            except TimeoutError:
                pass
            roll = self._rng.random()
            if roll < 0.55:
                name = self._rng.choice(KILLABLE)
                self._fleet.members[name].kill()
                await asyncio.sleep(self._rng.uniform(0.2, 1.5))
                self._fleet.members[name].start(self._fleet.cwd)
                self.faults[f"kill {name}"] += 1
            elif roll < 0.75:
                await asyncio.to_thread(stop_broker)
                await asyncio.sleep(self._rng.uniform(1.0, 3.0))
                await asyncio.to_thread(start_broker)
                self.faults["restart rabbitmq"] += 1
            else:
                self.faults["terminate database backends"] += await self._terminate_backends()

    async def _terminate_backends(self) -> int:
        database = self._database_url.rsplit("/", 1)[1]
        connection = await asyncpg.connect(self._database_url.rsplit("/", 1)[0] + "/postgres")
        try:
            rows = await connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        finally:
            await connection.close()
        return 1 if rows else 0
