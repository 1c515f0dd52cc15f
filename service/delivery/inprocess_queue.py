"""Dev mode's stand-in for the `tempstrong.delivery` queue: the publisher puts, the worker gets.

Both sides depend on this small object, not on each other; the dev composition root hands the
same queue to both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class QueuedMessage:
    body: bytes
    message_id: str
    correlation_id: str | None = None
    attempt: int = 1


class InProcessQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[QueuedMessage] = asyncio.Queue()

    def put(self, body: bytes, message_id: str, correlation_id: str | None = None) -> None:
        self._queue.put_nowait(QueuedMessage(body, message_id, correlation_id))

    def requeue(self, message: QueuedMessage) -> None:
        self._queue.put_nowait(message)

    async def get(self) -> QueuedMessage:
        return await self._queue.get()

    def take_waiting(self, most: int) -> list[QueuedMessage]:
        """Up to `most` messages that are already waiting (none is waited for)."""
        taken: list[QueuedMessage] = []
        while len(taken) < most and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken
