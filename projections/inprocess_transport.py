"""Dev mode's publisher transport: envelopes to the in-process delivery worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from service.delivery.inprocess import InProcessDelivery

from .publisher import Outgoing

log = logging.getLogger("tempstrong.publisher.dev")


class InProcessTransport:
    def __init__(self, delivery: InProcessDelivery) -> None:
        self._delivery = delivery
        self.events_published = 0

    async def publish_events(self, messages: Sequence[Outgoing]) -> None:
        # No broker in dev mode: downstream consumers are not there to read events.
        self.events_published += len(messages)

    async def publish_envelopes(self, envelopes: Sequence[Outgoing]) -> None:
        for envelope in envelopes:
            self._delivery.publish(envelope.body, envelope.message_id, envelope.correlation_id)
