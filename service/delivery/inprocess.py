"""Dev mode's transport: an in-process queue instead of RabbitMQ, the same worker core
(wired in `service/roots/dev.py`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from service.delivery.inprocess_queue import InProcessQueue, QueuedMessage

from .worker import Action, DeliveryWorker, Incoming

log = logging.getLogger("tempstrong.delivery.inprocess")
MAX_BATCH = 64


class InProcessDelivery:
    def __init__(self, worker: DeliveryWorker, queue: InProcessQueue) -> None:
        self._worker = worker
        self._queue = queue
        self._timers: set[asyncio.TimerHandle] = set()
        self.dead_letters: list[QueuedMessage] = []

    def publish(self, body: bytes, message_id: str, correlation_id: str | None = None) -> None:
        """Puts a message on the queue (what the dev publisher's transport does)."""
        self._queue.put(body, message_id, correlation_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Handles what has arrived, batch by batch, until `stop`; the batch in hand finishes."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getter, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                batch = [getter.result(), *self._queue.take_waiting(MAX_BATCH - 1)]
                await self._handle(batch)
        finally:
            stopped.cancel()
            for timer in self._timers:
                timer.cancel()

    async def _handle(self, batch: list[QueuedMessage]) -> None:
        outcomes = await self._worker.handle_batch(
            [Incoming(m.body, m.message_id, m.attempt, m.correlation_id) for m in batch]
        )
        for message, outcome in zip(batch, outcomes, strict=True):
            if outcome.action is Action.DEAD_LETTER:
                self.dead_letters.append(message)
            elif outcome.action is Action.RETRY:
                self._requeue_later(outcome.delay, replace(message, attempt=outcome.next_attempt))

    def _requeue_later(self, delay: float, message: QueuedMessage) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            self._queue.requeue(message)

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)
