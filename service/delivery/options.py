"""Worker tuning that SPEC leaves open, read from TEMPSTRONG_DELIVERY_* next to Settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from service.config import ConfigError

from .backoff import DEFAULT_BASE_SECONDS, DEFAULT_CAP_SECONDS, Backoff

DEFAULT_PREFETCH = 8


@dataclass(frozen=True)
class DeliveryOptions:
    prefetch: int = DEFAULT_PREFETCH
    backoff: Backoff = field(default_factory=Backoff)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeliveryOptions:
        env = os.environ if environ is None else environ
        base = _positive_float(env, "TEMPSTRONG_DELIVERY_BACKOFF_SECONDS", DEFAULT_BASE_SECONDS)
        cap = _positive_float(env, "TEMPSTRONG_DELIVERY_BACKOFF_CAP_SECONDS", DEFAULT_CAP_SECONDS)
        prefetch = _positive_float(env, "TEMPSTRONG_DELIVERY_PREFETCH", DEFAULT_PREFETCH)
        if prefetch != int(prefetch):
            raise ConfigError("TEMPSTRONG_DELIVERY_PREFETCH: must be an integer")
        return cls(prefetch=int(prefetch), backoff=Backoff(base=base, cap=max(base, cap)))


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}: must be a positive number, got {raw!r}")
    return value
