"""Dev mode's transport: an in-process queue instead of RabbitMQ, the same worker core
(wired in `service/roots/dev.py`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from service.inprocess_queue import InProcessQueue, QueuedMessage

from ..logs import request_id_in_scope
from .worker import Action, DeliveryWorker

log = logging.getLogger("tempstrong.delivery.inprocess")


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
        """Handles messages one at a time until `stop`; the message in hand is finished first."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getter, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                await self._handle(getter.result())
        finally:
            stopped.cancel()
            for timer in self._timers:
                timer.cancel()

    async def _handle(self, message: QueuedMessage) -> None:
        with request_id_in_scope(message.correlation_id):
            outcome = await self._worker.handle(message.body, message.message_id, message.attempt)
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
