"""Prometheus metrics of the API process (one registry per process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class CommitCounts(Protocol):
    @property
    def batches(self) -> int: ...

    @property
    def saves(self) -> int: ...


class _GroupCommitCollector(Collector):
    def __init__(self, counts: CommitCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "tempstrong_eventstore_commits",
            "Event-store transactions committed by the group-commit writer",
            value=self._counts.batches,
        )
        yield CounterMetricFamily(
            "tempstrong_eventstore_saves",
            "Saves (commands) committed; saves / commits = batching",
            value=self._counts.saves,
        )


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "tempstrong_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tempstrong_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.resets = Counter(
            "tempstrong_resets_total",
            "Reset commands by outcome (error code or ok/replayed)",
            ["outcome"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "tempstrong_api_ready",
            "1 when the last readiness check (/readyz: PostgreSQL reachable) passed, else 0",
            registry=self.registry,
        )
        self.verifications = Counter(
            "tempstrong_verifications_total",
            "Verification commands by outcome",
            ["outcome"],
            registry=self.registry,
        )

    def watch_group_commit(self, counts: CommitCounts) -> None:
        self.registry.register(_GroupCommitCollector(counts))
