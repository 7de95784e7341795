"""FinOps: what an action costs against what the downtime it ends costs, and the budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.model import AgentName, Candidate, ServiceFacts, Stance, Vote, vote

HOURS_PER_MONTH = 730.0
GIB_MONTH_USD = 0.115
"""gp3 storage price per GiB-month, us-east-1."""
EXPECTED_OUTAGE_MIN = 30.0
"""Minutes of breach an effective action is assumed to spare."""
SATURATED_PRESSURE = 1.5
"""``ServiceFacts.pressure`` (CPU over a 60 % target) from which a service runs at 90 % CPU or
more: past its capacity, where "load above capacity raises CPU, then latency, then errors"
(the scenario spec), so its breach is coming even before its SLO metrics show it."""
HEADROOM_PRESSURE = 1.0
"""At or under its CPU target a service has the headroom it was sized for: nothing is at stake
yet. Between the target and saturation the odds of a breach grow with the load (queues lengthen
as CPU climbs), so the outage it would spare is weighed at those odds, not at nothing: a few
tasks an hour against a critical service's minutes of downtime are cheap insurance."""
RUNS_OUT = frozenset({"disk-full", "memory-leak", "connection-exhaustion"})
"""Faults whose course ends in an outage once a resource runs out (the spec: "writes then
fail", "out-of-memory restarts, each a burst of errors", "callers fail to connect"): an action
taken while the resource still lasts spares that outage, so its downtime is at stake before any
SLO metric shows it (detection finds the trend to exhaustion early on purpose)."""


@dataclass(frozen=True, slots=True)
class Budget:
    monthly_usd: float
    spent_usd: float = 0.0

    @property
    def remaining(self) -> float:
        return self.monthly_usd - self.spent_usd


def monthly_cost(candidate: Candidate, service: ServiceFacts) -> float:
    """Extra spend per month if the action's change were kept (negative: a saving)."""
    params = candidate["params"]
    if candidate["action"] in {"scale-out", "scale-in"}:
        delta = int(params.get("desired", service["capacity"])) - service["capacity"]
        return delta * service["unit_cost_per_hour"] * HOURS_PER_MONTH
    if candidate["action"] == "increase-storage":
        return float(params.get("extra_gib", 100)) * GIB_MONTH_USD
    return 0.0


def breach_odds(service: ServiceFacts) -> float:
    """How likely a service with no SLO breach yet is to breach if nothing changes: none with
    headroom, certain once saturated, in proportion to the load between the two."""
    span = SATURATED_PRESSURE - HEADROOM_PRESSURE
    return min(1.0, max(0.0, (service["pressure"] - HEADROOM_PRESSURE) / span))


def vote_on(
    candidate: Candidate,
    facts: Mapping[str, ServiceFacts],
    budget: Budget,
    *,
    slo_breached: bool,
) -> Vote:
    service = facts[candidate["service"]]
    cost = monthly_cost(candidate, service)
    # An overloaded dependency fails its callers' requests too: their downtime is at stake.
    odds = 1.0 if slo_breached or candidate["addresses"] in RUNS_OUT else breach_odds(service)
    downtime = service["at_stake_per_min"] * EXPECTED_OUTAGE_MIN * odds
    evidence = [
        f"monthly cost {cost:+,.0f} USD",
        f"downtime avoided ~{downtime:,.0f} USD",
        f"budget left {budget.remaining:,.0f} USD",
    ]
    if 0.0 < odds < 1.0:
        evidence.append(f"breach odds {odds:.0%} at {service['pressure']:.2f}x its CPU target")
    if candidate["addresses"] == "cost-runaway":
        if cost < 0:
            return vote(
                AgentName.FINOPS, candidate, Stance.APPROVE, 0.95,
                f"saves {-cost:,.0f} USD a month of idle capacity", evidence,
            )  # fmt: skip
        return vote(
            AgentName.FINOPS, candidate, Stance.REJECT, 0.9,
            "adds spend to a cost incident", evidence,
        )  # fmt: skip
    if cost > 0 and cost > budget.remaining:
        return vote(
            AgentName.FINOPS, candidate, Stance.REJECT, 0.8,
            "would overrun the monthly budget", evidence,
        )  # fmt: skip
    if cost <= 0:
        return vote(
            AgentName.FINOPS, candidate, Stance.APPROVE, 0.6, "no added spend", evidence,
        )  # fmt: skip
    # Hourly-priced capacity kept for an hour vs the outage it ends.
    hour_cost = cost / HOURS_PER_MONTH
    worth = downtime / (downtime + hour_cost) if downtime + hour_cost > 0 else 0.0
    if worth >= 0.5:
        return vote(
            AgentName.FINOPS, candidate, Stance.APPROVE, worth,
            f"an hour of it costs {hour_cost:,.2f} USD against the outage", evidence,
        )  # fmt: skip
    return vote(
        AgentName.FINOPS, candidate, Stance.REJECT, 1.0 - worth,
        "costs more than the downtime it would spare", evidence,
    )  # fmt: skip
