"""FinOps: an action's monthly cost, weighed against the budget and the outage it ends."""

from __future__ import annotations

import pytest

import agentkit
from agents import finops
from agents.finops import HOURS_PER_MONTH, Budget, monthly_cost
from agents.model import Candidate, ServiceFacts, Stance

AMPLE = Budget(monthly_usd=10_000.0, spent_usd=1_000.0)


def _scale(action: str, desired: int, addresses: str = "traffic-spike") -> Candidate:
    return agentkit.candidate(action, "checkout", params={"desired": desired}, addresses=addresses)


def _vote(
    candidate: Candidate,
    facts: ServiceFacts,
    budget: Budget = AMPLE,
    *,
    slo_breached: bool = True,
) -> tuple[str, float]:
    got = finops.vote_on(candidate, agentkit.estate(facts), budget, slo_breached=slo_breached)
    return got["stance"], got["confidence"]


# -- monthly_cost -------------------------------------------------------------------------------


def test_scaling_costs_the_added_units_for_a_month_and_scaling_in_saves() -> None:
    facts = agentkit.service(capacity=4, unit_cost_per_hour=0.05)

    assert monthly_cost(_scale("scale-out", 6), facts) == pytest.approx(2 * 0.05 * HOURS_PER_MONTH)
    assert monthly_cost(_scale("scale-in", 1), facts) == pytest.approx(-3 * 0.05 * HOURS_PER_MONTH)


def test_growing_a_database_costs_its_storage() -> None:
    candidate = agentkit.candidate("increase-storage", "orders-db", params={"extra_gib": 200})

    assert monthly_cost(candidate, agentkit.database()) == pytest.approx(200 * 0.115)


@pytest.mark.parametrize(
    "action", ["rollback-deployment", "restart-service", "reboot-database", "isolate-instance"]
)
def test_actions_that_add_no_capacity_cost_nothing(action: str) -> None:
    assert monthly_cost(agentkit.candidate(action), agentkit.service()) == 0.0


# -- vote_on ------------------------------------------------------------------------------------


def test_scaling_in_a_cost_runaway_is_approved_as_a_saving() -> None:
    facts = agentkit.service(capacity=12, baseline_capacity=4, unit_cost_per_hour=0.05)

    got = finops.vote_on(
        _scale("scale-in", 4, "cost-runaway"), agentkit.estate(facts), AMPLE, slo_breached=False
    )

    assert got["stance"] == Stance.APPROVE
    assert got["confidence"] > 0.9
    assert "saves 292 USD" in got["rationale"]


def test_scaling_out_in_a_cost_runaway_is_rejected() -> None:
    facts = agentkit.service(capacity=12, tier="critical", downtime_cost_per_min=10_000.0)

    stance, _ = _vote(_scale("scale-out", 16, "cost-runaway"), facts)

    assert stance == Stance.REJECT


def test_an_action_costing_more_than_the_budget_left_is_rejected() -> None:
    facts = agentkit.service(capacity=4, unit_cost_per_hour=1.0, downtime_cost_per_min=10_000.0)
    scale_out = _scale("scale-out", 8)  # 4 x 1 USD x 730 h = 2,920 USD a month

    assert (
        _vote(scale_out, facts, Budget(monthly_usd=10_000.0, spent_usd=5_000.0))[0]
        == Stance.APPROVE
    )
    assert (
        _vote(scale_out, facts, Budget(monthly_usd=10_000.0, spent_usd=8_000.0))[0] == Stance.REJECT
    )


def test_a_cheap_scale_out_of_a_critical_service_in_an_slo_breach_is_approved() -> None:
    facts = agentkit.service(
        tier="critical", capacity=4, unit_cost_per_hour=0.05, downtime_cost_per_min=10_000.0
    )

    stance, confidence = _vote(_scale("scale-out", 6), facts, slo_breached=True)

    assert stance == Stance.APPROVE
    assert confidence > 0.9


def test_the_same_scale_out_with_no_breach_to_end_is_rejected() -> None:
    facts = agentkit.service(
        tier="critical", capacity=4, unit_cost_per_hour=0.05, downtime_cost_per_min=10_000.0
    )

    assert _vote(_scale("scale-out", 6), facts, slo_breached=False)[0] == Stance.REJECT


def test_capacity_that_costs_more_an_hour_than_the_outage_it_spares_is_rejected() -> None:
    # 100 units at 100 USD/h: 10,000 USD for the hour, against 30 min x 10 USD of downtime.
    facts = agentkit.service(capacity=4, unit_cost_per_hour=100.0, downtime_cost_per_min=10.0)

    got = _vote(_scale("scale-out", 104), facts, Budget(monthly_usd=1e9), slo_breached=True)

    assert got[0] == Stance.REJECT


@pytest.mark.parametrize(
    "action",
    ["rollback-deployment", "restart-service", "isolate-instance", "deactivate-access-key"],
)
def test_zero_cost_actions_are_approved_even_with_no_budget_left(action: str) -> None:
    spent = Budget(monthly_usd=1_000.0, spent_usd=1_500.0)

    stance, _ = _vote(agentkit.candidate(action), agentkit.service(), spent, slo_breached=False)

    assert stance == Stance.APPROVE


def test_the_vote_shows_its_sums() -> None:
    facts = agentkit.service(capacity=4, unit_cost_per_hour=0.05, downtime_cost_per_min=1_000.0)

    got = finops.vote_on(_scale("scale-out", 6), agentkit.estate(facts), AMPLE, slo_breached=True)

    assert got["evidence"] == [
        "monthly cost +73 USD",
        "downtime avoided ~30,000 USD",
        "budget left 9,000 USD",
    ]


def test_a_dependency_s_capacity_weighs_its_callers_downtime_not_only_its_own() -> None:
    # A supporting service ($100/min) that a critical front door ($10,000/min) calls: 36 more
    # units at 100 USD/h cost more an hour than its own 30 minutes of downtime, not theirs.
    big = {"tier": "supporting", "capacity": 4, "unit_cost_per_hour": 100.0}
    alone = agentkit.service(downtime_cost_per_min=100.0, **big)
    called = agentkit.service(downtime_cost_per_min=100.0, at_stake_per_min=10_100.0, **big)
    rich = Budget(monthly_usd=1e9)

    assert _vote(_scale("scale-out", 40), alone, rich)[0] == Stance.REJECT
    assert _vote(_scale("scale-out", 40), called, rich)[0] == Stance.APPROVE


def test_a_saturated_service_s_breach_is_coming_even_before_its_slo_metrics_show_it() -> None:
    def facts(pressure: float) -> ServiceFacts:
        return agentkit.service(tier="critical", downtime_cost_per_min=10_000.0, pressure=pressure)

    assert _vote(_scale("scale-out", 8), facts(1.7), slo_breached=False)[0] == Stance.APPROVE
    assert _vote(_scale("scale-out", 8), facts(0.9), slo_breached=False)[0] == Stance.REJECT


def test_load_past_the_cpu_target_weighs_the_outage_at_its_odds() -> None:
    # Just past its target a critical service is unlikely to breach, but a few tasks for an
    # hour cost cents against 10,000 USD a minute: the insurance is worth it. A supporting
    # service's cheap minutes at the same odds do not pay for expensive units.
    def facts(pressure: float, **kw: float) -> ServiceFacts:
        return agentkit.service(capacity=4, pressure=pressure, **kw)

    critical = facts(1.05, unit_cost_per_hour=0.05, downtime_cost_per_min=10_000.0)
    supporting = facts(1.05, unit_cost_per_hour=200.0, downtime_cost_per_min=100.0)
    nearly_saturated = facts(1.45, unit_cost_per_hour=200.0, downtime_cost_per_min=100.0)
    rich = Budget(monthly_usd=1e9)

    assert _vote(_scale("scale-out", 8), critical, slo_breached=False)[0] == Stance.APPROVE
    assert _vote(_scale("scale-out", 8), supporting, rich, slo_breached=False)[0] == (Stance.REJECT)
    assert _vote(_scale("scale-out", 8), nearly_saturated, rich, slo_breached=False)[0] == (
        Stance.APPROVE
    )


def test_the_odds_show_in_the_vote_s_evidence() -> None:
    facts = agentkit.service(capacity=4, unit_cost_per_hour=0.05, pressure=1.25)

    got = finops.vote_on(_scale("scale-out", 6), agentkit.estate(facts), AMPLE, slo_breached=False)

    assert "breach odds 50% at 1.25x its CPU target" in got["evidence"]


def test_storage_for_a_disk_filling_up_is_worth_it_before_writes_fail() -> None:
    # Detection finds free storage trending to zero while every SLO metric is still fine: the
    # outage ("writes then fail") is what the 12 USD a month spares.
    grow = agentkit.candidate(
        "increase-storage", "orders-db", params={"extra_gib": 100}, addresses="disk-full"
    )
    db = agentkit.database()

    assert _vote(grow, db, slo_breached=False)[0] == Stance.APPROVE


def test_capacity_for_a_fault_that_runs_nothing_out_waits_for_harm() -> None:
    # The same scale-out with nothing breached is worth it for a leak (out-of-memory restarts
    # are coming), not for a saturation that leaves the service inside its CPU target.
    facts = agentkit.service(tier="critical", downtime_cost_per_min=10_000.0, pressure=0.95)

    assert _vote(_scale("scale-out", 8, "memory-leak"), facts, slo_breached=False)[0] == (
        Stance.APPROVE
    )
    assert _vote(_scale("scale-out", 8, "cpu-saturation"), facts, slo_breached=False)[0] == (
        Stance.REJECT
    )
