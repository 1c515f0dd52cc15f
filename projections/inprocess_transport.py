"""Dev mode's publisher transport: envelopes to the in-process delivery worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from service.delivery.inprocess import InProcessDelivery

log = logging.getLogger("tempstrong.publisher.dev")


class InProcessTransport:
    def __init__(self, delivery: InProcessDelivery) -> None:
        self._delivery = delivery
        self.events_published = 0

    async def publish_events(self, messages: Sequence[tuple[str, str, bytes]]) -> None:
        # No broker in dev mode: downstream consumers are not there to read events.
        self.events_published += len(messages)

    async def publish_envelopes(self, envelopes: Sequence[tuple[str, str, bytes]]) -> None:
        for message_id, _credential_id, body in envelopes:
            self._delivery.publish(body, message_id)
