"""Builders for the agents' unit tests: services, candidates and synthetic metric series.

Series are numpy draws from a generator with a fixed seed, so every run sees the same numbers;
each builder takes its own ``seed`` so two services in one test do not share their noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.model import Candidate, ServiceFacts, candidate_id

LENGTH = 60
"""Points in a synthetic series: a couple of scorer windows of history."""


def flat(
    n: int = LENGTH, *, level: float = 100.0, noise: float = 0.01, seed: int = 1
) -> list[float]:
    """A steady metric: ``level`` with Gaussian noise of ``noise`` times the level."""
    rng = np.random.default_rng(seed)
    return [float(v) for v in level * (1.0 + noise * rng.standard_normal(n))]


def shifted(
    at: int,
    factor: float,
    n: int = LENGTH,
    *,
    level: float = 100.0,
    noise: float = 0.01,
    seed: int = 1,
) -> list[float]:
    """A steady metric whose level is multiplied by ``factor`` from point ``at`` on."""
    values = np.asarray(flat(n, level=level, noise=noise, seed=seed))
    values[at:] *= factor
    return [float(v) for v in values]


def spiked(
    at: int,
    factor: float,
    n: int = LENGTH,
    *,
    width: int = 1,
    level: float = 100.0,
    noise: float = 0.01,
    seed: int = 1,
) -> list[float]:
    """A steady metric multiplied by ``factor`` for ``width`` points from ``at``, then back."""
    values = np.asarray(flat(n, level=level, noise=noise, seed=seed))
    values[at : at + width] *= factor
    return [float(v) for v in values]


def leaking(
    at: int,
    rate: float,
    n: int = LENGTH,
    *,
    level: float = 50.0,
    noise: float = 0.07,
    seed: int = 1,
) -> list[float]:
    """Memory in percent: ``level`` with Gaussian noise of ``noise`` times the level, climbing
    ``rate`` points a step from ``at`` until it is out of memory (100), then back to ``level``."""
    values = np.asarray(flat(n, level=level, noise=noise, seed=seed))
    leaked = 0.0
    for i in range(at, n):
        leaked = 0.0 if level + leaked + rate >= 100.0 else leaked + rate
        values[i] += leaked
    return [float(min(100.0, v)) for v in values]


def service(name: str = "checkout", **changes: Any) -> ServiceFacts:
    """An ECS service of four tasks, important, unprotected, with no security findings."""
    facts = ServiceFacts(
        name=name,
        kind="ecs-service",
        tier="important",
        protected=False,
        capacity=4,
        baseline_capacity=4,
        max_capacity=16,
        unit_cost_per_hour=0.05,
        downtime_cost_per_min=1_000.0,
        previous_revision=None,
        compromised_instances=[],
        exposed_ports=[],
        access_key_id=None,
        pressure=1.0,
        at_stake_per_min=1_000.0,
    )
    facts.update(changes)  # type: ignore[typeddict-item]
    if "at_stake_per_min" not in changes:  # no callers: its own downtime only
        facts["at_stake_per_min"] = facts["downtime_cost_per_min"]
    return facts


def database(name: str = "orders-db", **changes: Any) -> ServiceFacts:
    """An RDS instance (capacity 1, as the evidence gatherer reports databases)."""
    defaults: dict[str, Any] = {
        "kind": "rds",
        "capacity": 1,
        "baseline_capacity": 1,
        "max_capacity": 1,
        "unit_cost_per_hour": 0.5,
    }
    return service(name, **(defaults | changes))


def estate(*services: ServiceFacts) -> dict[str, ServiceFacts]:
    """Facts by service name, as the agents receive them."""
    return {s["name"]: s for s in services}


def candidate(
    action: str = "restart-service", service: str = "checkout", **changes: Any
) -> Candidate:
    """A low-risk, reversible, non-destructive candidate; ``changes`` override any field."""
    params: dict[str, Any] = changes.pop("params", {})
    built = Candidate(
        id=candidate_id(action, service, params),
        action=action,
        service=service,
        params=params,
        addresses=changes.pop("addresses", "bad-deploy"),
        risk="low",
        reversible=True,
        destructive=False,
        protected=False,
        widens_exposure=False,
        expected_effect="",
        rollback=None,
        rank=0,
    )
    built.update(changes)  # type: ignore[typeddict-item]
    return built
