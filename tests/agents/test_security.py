"""Security: the policy's vetoes and rejections, and containment that always gets through."""

from __future__ import annotations

import pytest

import agentkit
from agents import security
from agents.model import Candidate, ServiceFacts, Stance, Vote
from agents.security import CONTAINMENT, Policy


def _vote(
    candidate: Candidate,
    facts: ServiceFacts | None = None,
    policy: Policy = Policy(),  # noqa: B008 - frozen, so a shared default is safe
    *,
    slo_breached: bool = False,
) -> Vote:
    facts = facts or agentkit.service(candidate["service"])
    return security.vote_on(candidate, agentkit.estate(facts), policy, slo_breached=slo_breached)


def test_an_action_that_widens_exposure_is_vetoed() -> None:
    got = _vote(agentkit.candidate("scale-out", widens_exposure=True))

    assert got["stance"] == Stance.REJECT
    assert got["veto"]


@pytest.mark.parametrize("action", ["scale-out", "rollback-deployment", "restart-service"])
def test_a_change_freeze_vetoes_everything_but_containment(action: str) -> None:
    frozen = _vote(agentkit.candidate(action), policy=Policy(change_freeze=True))
    thawed = _vote(agentkit.candidate(action), policy=Policy(change_freeze=False))

    assert (frozen["stance"], frozen["veto"]) == (Stance.REJECT, True)
    assert "freeze" in frozen["rationale"]
    assert (thawed["stance"], thawed["veto"]) == (Stance.APPROVE, False)


@pytest.mark.parametrize("action", sorted(CONTAINMENT))
def test_containment_is_approved_even_in_a_change_freeze(action: str) -> None:
    got = _vote(
        agentkit.candidate(action, addresses="credential-compromise"),
        policy=Policy(change_freeze=True),
    )

    assert got["stance"] == Stance.APPROVE
    assert not got["veto"]


@pytest.mark.parametrize(
    ("tier", "desired", "slo_breached", "stance"),
    [
        ("critical", 4, True, Stance.REJECT),  # 10 -> 4: more than half gone mid-outage
        ("important", 4, True, Stance.REJECT),
        ("critical", 5, True, Stance.APPROVE),  # exactly half is allowed
        ("critical", 4, False, Stance.APPROVE),  # no outage to make worse
        ("supporting", 1, True, Stance.APPROVE),  # not a service the policy guards
    ],
)
def test_a_scale_in_may_not_halve_a_critical_service_during_an_slo_breach(
    tier: str, desired: int, slo_breached: bool, stance: Stance
) -> None:
    facts = agentkit.service(tier=tier, capacity=10, baseline_capacity=4)

    got = _vote(
        agentkit.candidate("scale-in", params={"desired": desired}, addresses="cost-runaway"),
        facts,
        slo_breached=slo_breached,
    )

    assert got["stance"] == stance


def test_a_stricter_shrink_limit_rejects_a_smaller_scale_in() -> None:
    facts = agentkit.service(tier="critical", capacity=10)
    scale_in = agentkit.candidate("scale-in", params={"desired": 6})

    assert _vote(scale_in, facts, Policy(max_shrink=0.5), slo_breached=True)["stance"] == "approve"
    assert _vote(scale_in, facts, Policy(max_shrink=0.2), slo_breached=True)["stance"] == "reject"


def test_a_destructive_action_on_a_protected_resource_is_left_for_a_person_to_confirm() -> None:
    reboot = agentkit.candidate(
        "reboot-database", "orders-db", risk="medium", destructive=True, protected=True
    )

    got = _vote(reboot, agentkit.database(protected=True))

    assert got["stance"] == Stance.APPROVE
    assert "person must confirm" in got["rationale"]
    assert not got["veto"]


@pytest.mark.parametrize(
    ("risk", "stance"), [("low", "approve"), ("medium", "approve"), ("high", "reject")]
)
def test_a_high_risk_action_is_rejected(risk: str, stance: str) -> None:
    got = _vote(
        agentkit.candidate("failover-database", "orders-db", risk=risk), agentkit.database()
    )

    assert got["stance"] == stance


def test_protection_never_turns_a_high_risk_rejection_into_an_approval() -> None:
    failover = agentkit.candidate(
        "failover-database", "orders-db", risk="high", destructive=True, protected=True
    )

    got = _vote(failover, agentkit.database(protected=True))

    assert got["stance"] == Stance.REJECT
