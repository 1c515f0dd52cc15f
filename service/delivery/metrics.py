"""Prometheus metrics of the delivery worker, in a registry of its own."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge

from service.contracts.envelope import DELIVERABLE_METHODS


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    SKIPPED_SUPERSEDED = "skipped_superseded"
    SKIPPED_ERASED = "skipped_erased"  # the person was erased: nothing may yield their address
    DUPLICATE = "duplicate"


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.deliveries = Counter(
            "tempstrong_deliveries_total",
            "Delivery envelopes handled, by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "tempstrong_delivery_in_flight",
            "Envelopes being handled right now",
            registry=self.registry,
        )
        self.consuming = Gauge(
            "tempstrong_delivery_consuming",
            "1 while the worker consumes its queue",
            registry=self.registry,
        )
        self.last_handled = Gauge(
            "tempstrong_delivery_last_handled_timestamp_seconds",
            "When the worker last finished handling an envelope (shows the loop is alive)",
            registry=self.registry,
        )

        # every series exists from the start at 0, so `increase()` also sees a pod's first one
        for method in DELIVERABLE_METHODS:
            for outcome in DeliveryOutcome:
                self.deliveries.labels(channel=method.value, outcome=outcome.value)

    def count(self, channel: str, outcome: DeliveryOutcome) -> None:
        self.deliveries.labels(channel=channel, outcome=outcome.value).inc()
        self.last_handled.set_to_current_time()
