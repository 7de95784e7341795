"""How a service behaves in one step: a pure function of its load, capacity and conditions.

The model is deliberately simple and monotone, so that every effect the scenario spec lists has a
cause a person can follow:

- demand (requests per second) over capacity gives utilisation ``u``;
- ``u`` above 0.7 raises latency (queueing), above 0.95 it also fails requests;
- a dependency's extra latency adds to its callers' (a database call is made several times per
  request), its failures fail a share of its callers' requests, and a slow enough dependency
  makes callers time out;
- conditions set by faults (a bad revision, leaked memory, a slow or full database) add their
  own effect on top.

``Sample`` holds the true, noise-free values; noise is added only when metrics are published, so
SLO breaches and recovery are judged on what really happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from services.scenario.model import Service, ServiceKind

_DEFAULT_BASELINE: dict[ServiceKind, dict[str, float]] = {
    ServiceKind.ECS_SERVICE: {
        "rps": 100.0,
        "cpu": 35.0,
        "memory": 40.0,
        "latency_ms": 100.0,
        "error_rate": 0.1,
    },
    ServiceKind.ASG: {
        "rps": 100.0,
        "cpu": 35.0,
        "memory": 40.0,
        "latency_ms": 100.0,
        "error_rate": 0.1,
    },
    ServiceKind.RDS: {
        "cpu": 25.0,
        "connections": 50.0,
        "max_connections": 500.0,
        "latency_ms": 5.0,
        "free_storage_gib": 100.0,
        "error_rate": 0.0,
    },
    ServiceKind.LAMBDA: {"rps": 50.0, "latency_ms": 200.0, "error_rate": 0.1},
}
_DEFAULT_CAPACITY = {
    ServiceKind.ECS_SERVICE: 2,
    ServiceKind.ASG: 2,
    ServiceKind.RDS: 1,
    ServiceKind.LAMBDA: 100,
}
_DEFAULT_UNIT_COST_PER_HOUR = {
    ServiceKind.ECS_SERVICE: 0.05,
    ServiceKind.ASG: 0.10,
    ServiceKind.RDS: 0.50,
    ServiceKind.LAMBDA: 0.01,
}
DB_CALLS_PER_REQUEST = 10.0
"""Database round trips per caller request: a slow database slows callers ten times over."""
LATENCY_BAND = 1.5
"""A service breaches its SLO when latency exceeds its baseline by this factor ..."""
ERROR_BAND_POINTS = 1.0
"""... or its error rate exceeds its baseline by this many percentage points."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A service's healthy behaviour with the kind's defaults filled in."""

    name: str
    kind: ServiceKind
    capacity: int
    max_capacity: int
    unit_cost_per_hour: float
    rps: float
    cpu: float
    memory: float
    latency_ms: float
    error_rate: float
    connections: float
    max_connections: int
    free_storage_gib: float
    noise: float
    daily: bool

    @classmethod
    def of(cls, service: Service) -> Profile:
        defaults = _DEFAULT_BASELINE[service.kind]
        given = service.baseline

        def pick(key: str, fallback: float = 0.0) -> float:
            value = getattr(given, key)
            return float(value) if value is not None else defaults.get(key, fallback)

        capacity = service.capacity or _DEFAULT_CAPACITY[service.kind]
        return cls(
            name=service.name,
            kind=service.kind,
            capacity=capacity,
            max_capacity=service.max_capacity or max(capacity * 3, capacity + 4),
            unit_cost_per_hour=(
                service.unit_cost_per_hour
                if service.unit_cost_per_hour is not None
                else _DEFAULT_UNIT_COST_PER_HOUR[service.kind]
            ),
            rps=pick("rps"),
            cpu=pick("cpu", 30.0),
            memory=pick("memory", 40.0),
            latency_ms=pick("latency_ms", 100.0),
            error_rate=pick("error_rate"),
            connections=pick("connections"),
            max_connections=int(pick("max_connections", 500.0)),
            free_storage_gib=pick("free_storage_gib", 100.0),
            noise=service.noise,
            daily=service.seasonality.value == "daily",
        )


@dataclass(slots=True)
class Conditions:
    """Everything acting on one service this step, gathered from its faults and AWS state."""

    capacity: int
    demand_factor: float = 1.0
    """Multiplier on requests (traffic spikes here or at callers, daily seasonality)."""
    cpu_cost_factor: float = 1.0
    extra_cpu: float = 0.0
    """Percent added to average CPU (a compromised instance mining)."""
    error_add: float = 0.0
    """Percentage points of failing requests (bad revision, OOM restarts, full disk ...)."""
    latency_factor: float = 1.0
    leaked_memory: float = 0.0
    connections: float | None = None
    free_storage_gib: float | None = None
    spike: dict[str, float] = field(default_factory=dict)
    """Short-lived multipliers by metric (``latency``, ``errors``, ``cpu``, ``rps``)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """True, noise-free values of one service in one step."""

    rps: float
    cpu: float
    memory: float
    latency_ms: float
    error_rate: float
    """Percent of requests failing, as callers see it (throttles included for lambda)."""
    utilisation: float
    connections: float = 0.0
    free_storage_gib: float = 0.0
    throttle_rate: float = 0.0
    concurrency: float = 0.0
    capacity: int = 0

    def breaches(self, profile: Profile) -> list[str]:
        """The SLO metrics outside their baseline band, by name (empty when healthy)."""
        out = []
        if self.latency_ms > profile.latency_ms * LATENCY_BAND:
            out.append("latency")
        if self.error_rate > profile.error_rate + ERROR_BAND_POINTS:
            out.append("errors")
        return out


def daily_factor(elapsed_s: float) -> float:
    """Traffic relative to the daily mean; runs start at 09:00, busiest at 15:00."""
    hour = (9.0 + elapsed_s / 3600.0) % 24.0
    return 1.0 + 0.3 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0)


def latency_factor_at(utilisation: float) -> float:
    """Queueing: flat to 70 % busy, three times slower at 100 %, then growing with the backlog."""
    if utilisation <= 0.7:
        return 1.0
    if utilisation <= 1.0:
        return 1.0 + 2.0 * ((utilisation - 0.7) / 0.3) ** 2
    return min(20.0, 3.0 + 6.0 * (utilisation - 1.0))


def overload_errors_at(utilisation: float) -> float:
    """Percent of requests failing from overload: none below 95 % busy."""
    return 0.0 if utilisation <= 0.95 else min(80.0, 60.0 * (utilisation - 0.95))


def sample(
    profile: Profile, cond: Conditions, dependencies: list[tuple[Profile, Sample]]
) -> Sample:
    """One step of ``profile`` under ``cond``, given its dependencies' samples this step."""
    dep_latency_ms, dep_errors = _from_dependencies(dependencies)
    spike = cond.spike
    if profile.kind is ServiceKind.RDS:
        return _database(profile, cond)
    rps = profile.rps * cond.demand_factor * spike.get("rps", 1.0)
    if profile.kind is ServiceKind.LAMBDA:
        return _function(profile, cond, rps, dep_latency_ms, dep_errors)
    load = rps / profile.rps if profile.rps else cond.demand_factor
    cpu_demand = (
        profile.cpu * load * (profile.capacity / cond.capacity) * cond.cpu_cost_factor
        + cond.extra_cpu
    ) * spike.get("cpu", 1.0)
    utilisation = cpu_demand / 100.0
    latency = (
        profile.latency_ms * cond.latency_factor * latency_factor_at(utilisation) + dep_latency_ms
    ) * spike.get("latency", 1.0)
    errors = (
        profile.error_rate + cond.error_add + overload_errors_at(utilisation) + dep_errors
    ) * spike.get("errors", 1.0)
    return Sample(
        rps=rps,
        cpu=min(100.0, cpu_demand),
        memory=min(100.0, profile.memory + cond.leaked_memory),
        latency_ms=latency,
        error_rate=min(100.0, errors),
        utilisation=utilisation,
        capacity=cond.capacity,
    )


def _database(profile: Profile, cond: Conditions) -> Sample:
    load = cond.demand_factor * cond.spike.get("rps", 1.0)
    cpu_demand = profile.cpu * load * cond.cpu_cost_factor * cond.spike.get("cpu", 1.0)
    cpu_demand += cond.extra_cpu
    utilisation = cpu_demand / 100.0
    connections = min(
        float(profile.max_connections),
        cond.connections if cond.connections is not None else profile.connections * load,
    )
    refused = 0.0
    if connections >= profile.max_connections:
        refused = 35.0
    free = profile.free_storage_gib if cond.free_storage_gib is None else cond.free_storage_gib
    write_failures = 30.0 if free <= 0.0 else 0.0
    latency = (
        profile.latency_ms
        * cond.latency_factor
        * latency_factor_at(utilisation)
        * cond.spike.get("latency", 1.0)
    )
    errors = profile.error_rate + cond.error_add + refused + write_failures
    errors += overload_errors_at(utilisation)
    return Sample(
        rps=0.0,
        cpu=min(100.0, cpu_demand),
        memory=0.0,
        latency_ms=latency,
        error_rate=min(100.0, errors * cond.spike.get("errors", 1.0)),
        utilisation=utilisation,
        connections=connections,
        free_storage_gib=max(0.0, free),
        capacity=cond.capacity,
    )


def _function(
    profile: Profile, cond: Conditions, rps: float, dep_latency_ms: float, dep_errors: float
) -> Sample:
    duration = (profile.latency_ms * cond.latency_factor + dep_latency_ms) * cond.spike.get(
        "latency", 1.0
    )
    concurrency = rps * duration / 1000.0
    throttle = 0.0
    if concurrency > cond.capacity > 0:
        throttle = 1.0 - cond.capacity / concurrency
    errors = (profile.error_rate + cond.error_add + dep_errors) * cond.spike.get("errors", 1.0)
    return Sample(
        rps=rps,
        cpu=0.0,
        memory=0.0,
        latency_ms=duration,
        error_rate=min(100.0, errors + throttle * 100.0),
        utilisation=concurrency / cond.capacity if cond.capacity else 1.0,
        throttle_rate=throttle,
        concurrency=min(concurrency, float(cond.capacity)),
        capacity=cond.capacity,
    )


def _from_dependencies(dependencies: list[tuple[Profile, Sample]]) -> tuple[float, float]:
    """Latency (ms) and failures (percentage points) that dependencies add to a caller."""
    latency = 0.0
    errors = 0.0
    for dep, got in dependencies:
        calls = DB_CALLS_PER_REQUEST if dep.kind is ServiceKind.RDS else 1.0
        latency += max(0.0, got.latency_ms - dep.latency_ms) * calls
        errors += 0.9 * max(0.0, got.error_rate - dep.error_rate)
        ratio = got.latency_ms / dep.latency_ms if dep.latency_ms else 1.0
        errors += min(40.0, 5.0 * max(0.0, ratio - 3.0))  # callers time out
    return latency, min(100.0, errors)
