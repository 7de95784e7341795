"""Security: the policy's vetoes and rejections, and containment that always gets through."""

from __future__ import annotations

from typing import Any

import pytest

import agentkit
from agents import security
from agents.model import Candidate, Hypothesis, ServiceFacts, Stance, Vote
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


CONTAINMENT_CASES = [
    ("credential-compromise", agentkit.service(access_key_id="AKIAEXAMPLE123"),
     "deactivate-access-key", {"access_key_id": "AKIAEXAMPLE123"}),
    ("instance-compromise", agentkit.service(kind="asg", compromised_instances=["i-0abc", "i-0d"]),
     "isolate-instance", {"instance_id": "i-0abc"}),
    ("security-group-exposure", agentkit.service(exposed_ports=[22]), "revoke-ingress-rule",
     {"port": 22}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "facts", "action", "params"),
    CONTAINMENT_CASES,
    ids=[row[0] for row in CONTAINMENT_CASES],
)
def test_security_proposes_containment_for_security_faults(
    fault: str, facts: ServiceFacts, action: str, params: dict[str, Any]
) -> None:
    hyp = Hypothesis(service=facts["name"], fault=fault, confidence=0.9, evidence=[])

    [candidate] = security.propose_containment([hyp], agentkit.estate(facts), first_rank=2)

    assert (candidate["action"], candidate["params"]) == (action, params)
    assert candidate["addresses"] == fault
    assert candidate["rank"] == 2
    assert candidate["risk"] == "low"
    assert not candidate["widens_exposure"]


@pytest.mark.parametrize(
    ("fault", "facts"),
    [
        ("credential-compromise", agentkit.service()),
        ("instance-compromise", agentkit.service(kind="asg")),
        ("security-group-exposure", agentkit.service()),
        ("bad-deploy", agentkit.service(previous_revision="v1")),
    ],
    ids=["no-key", "no-instance", "no-port", "not-a-security-fault"],
)
def test_no_containment_without_its_target_or_for_other_faults(
    fault: str, facts: ServiceFacts
) -> None:
    hyp = Hypothesis(service=facts["name"], fault=fault, confidence=0.9, evidence=[])
    assert security.propose_containment([hyp], agentkit.estate(facts)) == []


def test_containment_already_tried_is_not_proposed_again() -> None:
    facts = agentkit.service(access_key_id="AKIAEXAMPLE123")
    hyp = Hypothesis(
        service=facts["name"], fault="credential-compromise", confidence=0.9, evidence=[]
    )
    [first] = security.propose_containment([hyp], agentkit.estate(facts))

    assert security.propose_containment([hyp], agentkit.estate(facts), exclude=[first["id"]]) == []


@pytest.mark.parametrize(("fault", "facts", "action", "params"), CONTAINMENT_CASES,
                         ids=[row[0] for row in CONTAINMENT_CASES])  # fmt: skip
def test_only_isolating_an_instance_is_destructive_containment(
    fault: str, facts: ServiceFacts, action: str, params: dict[str, Any]
) -> None:
    # An isolated instance stops serving: on a protected database, a person decides.
    hyp = Hypothesis(service=facts["name"], fault=fault, confidence=0.9, evidence=[])

    [candidate] = security.propose_containment([hyp], agentkit.estate(facts))

    assert candidate["destructive"] is (action == "isolate-instance")
