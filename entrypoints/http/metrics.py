"""Prometheus metrics: requests and latency per route and status, DB pool usage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from falcon.constants import COMBINED_METHODS
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class PoolCollector(Collector):
    def __init__(self, pool_stats: Callable[[], dict[str, int]]):
        self._stats = pool_stats

    def collect(self) -> Iterator[Any]:
        stats = self._stats()
        for name, value in stats.items():
            gauge = GaugeMetricFamily(
                f"aqualab_db_pool_{name}", f"Database connection pool: {name}"
            )
            gauge.add_metric([], value)
            yield gauge


# A client picks the method: any other name is counted as OTHER, so no one can grow the
# label set (and this process's memory) by sending made-up methods.
KNOWN_METHODS = frozenset(COMBINED_METHODS)


class HttpMetrics:
    def __init__(self, pool_stats: Callable[[], dict[str, int]] | None = None):
        self.registry = CollectorRegistry()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            "aqualab_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aqualab_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        if pool_stats is not None:
            self.registry.register(PoolCollector(pool_stats))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in KNOWN_METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            # `labels()` takes a lock and formats the labels on every call; a route's
            # children live as long as the registry, so look them up once.
            labels = (method, route, str(status))
            children = self._children[key] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        count, latency = children
        count.inc()
        latency.observe(seconds)
