"""The gateway's own Prometheus metrics (the commander's are in ``services.metrics``; HTTP
request metrics in ``services.gateway.middleware``). Same conventions: a registry passed in,
bounded labels, never an incident id."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.store import Counts
from services.errors import OverloadedError


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "ic_ingest_deliveries",
            "Alert deliveries posted to /v1/alerts, by source and result "
            "(accepted, rejected, subscription).",
            ["source", "result"],
            registry=registry,
        )
        self.alerts = Counter(
            "ic_ingest_alerts",
            "Alerts taken from deliveries, by source and status (firing, resolved, ...).",
            ["source", "status"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "ic_auth_failures", "Requests refused for a missing or bad credential.",
            registry=registry,
        )  # fmt: skip
        self.sse_clients = Gauge(
            "ic_sse_clients", "Clients connected to /v1/events.", registry=registry
        )


class IncidentCollector(Collector):
    """``ic_incidents{status,severity}``: incidents by status and severity, counted from the
    commander's summaries when Prometheus scrapes (a count of a state, not of events)."""

    def __init__(self, counts: Callable[[], Counts]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "ic_incidents",
            "Incidents by status and severity (none: not confirmed yet).",
            labels=["status", "severity"],
        )
        counts: Tally[tuple[str, str]] = Tally()
        try:
            now = self._counts()
        except OverloadedError:  # the store is away, or no estate yet: a scrape with no count
            now = {}
        for (status, severity), count in now.items():
            counts[(status, severity or "none")] += count
        for (status, severity), count in sorted(counts.items()):
            family.add_metric([status, severity], count)
        yield family
