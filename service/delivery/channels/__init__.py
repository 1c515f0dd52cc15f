"""The channel port: one adapter per sending method, each raising Permanent- or TransientFailure."""

from __future__ import annotations

from typing import Protocol

from service.contracts.envelope import SealedDelivery

from ..failures import PermanentFailure, TransientFailure

__all__ = ["Channel", "PermanentFailure", "TransientFailure"]


class Channel(Protocol):
    """Sends one request; returns only once the channel has accepted it.

    Raises PermanentFailure when retrying cannot help and TransientFailure when it may.
    """

    async def send(self, message: SealedDelivery) -> None: ...

    async def close(self) -> None:
        """Releases connections; the default holds none."""
        return None
