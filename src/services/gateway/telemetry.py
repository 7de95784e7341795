"""The gateway's own Prometheus metrics (the commander's are in ``services.metrics``; HTTP
request metrics in ``services.gateway.middleware``). Same conventions: a registry passed in,
bounded labels, never an incident id."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
