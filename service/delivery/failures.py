"""The two ways a delivery can fail. Messages name the problem, never the secret or an address."""

from __future__ import annotations


class DeliveryFailure(Exception):
    """Base class; the message is safe to log."""


class PermanentFailure(DeliveryFailure):
    """Retrying cannot help (bad envelope, bad address, refused by the gateway): dead-letter."""


class TransientFailure(DeliveryFailure):
    """The channel or a dependency is unavailable for now: retry with backoff."""


class DependencyUnavailable(TransientFailure):
    """Our own database is unavailable: retry, without spending one of the message's attempts."""
