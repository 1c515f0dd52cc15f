"""Dev mode's publisher transport: envelopes into the in-process delivery queue."""

from __future__ import annotations

from collections.abc import Sequence

from service.delivery.inprocess_queue import InProcessQueue

from .messages import Kind, Outgoing


class InProcessTransport:
    def __init__(self, queue: InProcessQueue) -> None:
        self._queue = queue
        self.events_published = 0

    async def publish(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        for message in messages:
            if message.kind is Kind.ENVELOPE:
                self._queue.put(message.body, message.message_id, message.correlation_id)
            else:
                # no broker in dev mode: downstream consumers are not there to read events
                self.events_published += 1
        return [None] * len(messages)
