"""Dev mode's transport: an asyncio.Queue instead of RabbitMQ, the same worker core.

Email and SMS become files in `<var>/outbox`, PDF letters land in `<var>/spool`; the dedup record
lives in memory and the supersession check reads the embedded event store.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from eventsourcing.persistence import ApplicationRecorder

from service.domain.policy import SendingMethod
from service.inprocess_queue import InProcessQueue, QueuedMessage
from service.sealing import Opener

from ..logs import request_id_in_scope
from .backoff import Backoff
from .channels.outbox import OutboxChannel
from .channels.pdf import PdfSpoolChannel
from .dedup import MemoryDedup
from .metrics import DeliveryMetrics
from .supersession import RecorderSupersession
from .worker import Action, DeliveryWorker

log = logging.getLogger("tempstrong.delivery.inprocess")

DEV_MAX_ATTEMPTS = 5
DEV_BACKOFF = Backoff(base=1.0, cap=30.0)


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


def build_dev_delivery(
    var_dir: Path,
    private_keys: str,
    recorder: ApplicationRecorder,
    queue: InProcessQueue,
    *,
    metrics: DeliveryMetrics | None = None,
    max_attempts: int = DEV_MAX_ATTEMPTS,
    backoff: Backoff = DEV_BACKOFF,
) -> InProcessDelivery:
    outbox = OutboxChannel(var_dir / "outbox")
    worker = DeliveryWorker(
        opener=Opener(private_keys),
        channels={
            SendingMethod.EMAIL: outbox,
            SendingMethod.SMS: outbox,
            SendingMethod.PDF_STORE: PdfSpoolChannel(var_dir / "spool"),
        },
        dedup=MemoryDedup(),
        supersession=RecorderSupersession(recorder),
        metrics=metrics or DeliveryMetrics(),
        max_attempts=max_attempts,
        backoff=backoff,
    )
    return InProcessDelivery(worker, queue)
