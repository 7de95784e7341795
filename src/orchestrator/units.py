"""What a metric role is measured in, and the limit a chart of it should draw: for people
reading the series (the dashboard's charts), not for the agents.

Roles are those of ``services.aws.resources.metric_ids``; ``errors`` is a rate in percent of
requests (``orchestrator.evidence.series``). A limit is the estate catalogue's SLO for the
role, a service's maximum capacity, or a database's connection limit; none where the catalogue
says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.aws.resources import ServiceProfile

_UNITS = {
    "cpu": "%",
    "memory": "%",
    "errors": "% of requests",
    "capacity": "units",
    "requests": "requests/step",
    "connections": "connections",
    "free_storage": "bytes",
    "throttles": "throttles/step",
    "concurrency": "executions",
}


@dataclass(frozen=True, slots=True)
class Limit:
    value: float
    label: str


def unit_of(role: str, kind: str | None) -> str:
    """``latency`` is in ms for a function (Lambda ``Duration``), in seconds otherwise (a load
    balancer's or a database's); "" for a role this module does not know."""
    if role in {"latency", "write_latency"}:
        return "ms" if kind == "lambda" else "s"
    return _UNITS.get(role, "")


def limit_of(role: str, profile: ServiceProfile | None) -> Limit | None:
    if profile is None:
        return None
    if role in profile.slo:
        return Limit(float(profile.slo[role]), "SLO")
    if role == "capacity" and profile.max_capacity > 0:
        return Limit(float(profile.max_capacity), "max capacity")
    if role == "connections" and profile.max_connections > 0:
        return Limit(float(profile.max_connections), "max connections")
    return None
