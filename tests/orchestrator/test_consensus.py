"""Consensus: its safety properties hold for any votes, and each rule decides as documented."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import agentkit
from agents.model import AgentName, Candidate, Stance, Vote, vote
from orchestrator.consensus import ConsensusPolicy, decide

AGENTS = list(AgentName)


def _candidate(action: str = "rollback-deployment", **changes: Any) -> Candidate:
    return agentkit.candidate(action, changes.pop("service", "checkout"), **changes)


def _votes(candidate: Candidate, stances: dict[AgentName, tuple[Stance, float]]) -> list[Vote]:
    return [vote(agent, candidate, s, c, "test") for agent, (s, c) in stances.items()]


ALL_APPROVE = dict.fromkeys(AGENTS, (Stance.APPROVE, 0.9))

stances = st.sampled_from(list(Stance))
confidences = st.floats(0.0, 1.0)
candidates = st.builds(
    _candidate,
    action=st.sampled_from(["scale-out", "reboot-database", "rollback-deployment"]),
    risk=st.sampled_from(["low", "medium", "high"]),
    reversible=st.booleans(),
    destructive=st.booleans(),
    protected=st.booleans(),
    rank=st.integers(0, 5),
    service=st.sampled_from(["a", "b", "c"]),
)


@st.composite
def ballots(draw: st.DrawFn) -> tuple[list[Candidate], list[Vote]]:
    cands = {c["id"]: c for c in draw(st.lists(candidates, min_size=1, max_size=4))}
    votes = []
    for cand in cands.values():
        for agent in AGENTS:
            if draw(st.booleans()):
                votes.append(
                    vote(
                        agent, cand, draw(stances), draw(confidences), "x", veto=draw(st.booleans())
                    )
                )
    return list(cands.values()), votes


@given(ballots(), st.sampled_from(["sev1", "sev2", "sev3", "sev4"]))
def test_nothing_executes_without_two_approving_agents(ballot: Any, severity: Any) -> None:
    cands, votes = ballot
    decision = decide(cands, votes, severity)
    if decision.outcome in ("execute", "approval"):
        approvers = {
            v["agent"]
            for v in votes
            if v["candidate"] == decision.candidate and v["stance"] == "approve"
        }
        assert len(approvers) >= 2


@given(ballots(), st.sampled_from(["sev1", "sev2", "sev3", "sev4"]))
def test_a_security_veto_always_blocks(ballot: Any, severity: Any) -> None:
    cands, votes = ballot
    decision = decide(cands, votes, severity)
    # the last vote of an agent on a candidate counts
    last = {(v["agent"], v["candidate"]): v for v in votes}
    vetoed = {c for (a, c), v in last.items() if a == "security" and v["veto"]}
    assert decision.candidate not in vetoed or decision.outcome not in ("execute", "approval")


@given(ballots(), st.sampled_from(["sev1", "sev2", "sev3", "sev4"]))
def test_destructive_actions_on_protected_resources_never_auto_execute(
    ballot: Any, severity: Any
) -> None:
    cands, votes = ballot
    decision = decide(cands, votes, severity)
    if decision.outcome == "execute":
        chosen = next(c for c in cands if c["id"] == decision.candidate)
        assert not (chosen["protected"] and chosen["destructive"])
        assert chosen["risk"] != "high"


@given(
    rogue=st.sampled_from(AGENTS),
    others=st.sampled_from([Stance.REJECT, Stance.ABSTAIN]),
)
def test_a_rogue_agent_voting_maximally_for_a_harmful_action_cannot_carry_it(
    rogue: AgentName, others: Stance
) -> None:
    harmful = _candidate("scale-in", addresses="cost-runaway", risk="medium")
    votes = [vote(rogue, harmful, Stance.APPROVE, 1.0, "do it")]
    votes += [vote(a, harmful, others, 1.0, "no") for a in AGENTS if a is not rogue]

    decision = decide([harmful], votes, "sev1")

    assert decision.outcome in ("escalate", "no_action")
    assert decision.candidate is None


def test_unanimous_support_for_a_low_risk_action_executes_and_says_why() -> None:
    cand = _candidate()
    decision = decide([cand], _votes(cand, ALL_APPROVE), "sev2")
    assert decision.outcome == "execute"
    assert decision.candidate == cand["id"]
    assert "auto threshold" in decision.rule
    assert decision.matrix[cand["id"]]["security"] == "approve (0.90)"


def test_a_destructive_action_on_a_protected_target_asks_a_person_even_with_unanimous_support() -> (
    None
):
    cand = _candidate("reboot-database", protected=True, destructive=True, risk="medium")
    decision = decide([cand], _votes(cand, ALL_APPROVE), "sev1")
    assert decision.outcome == "approval"
    assert "protected" in decision.rule


@pytest.mark.parametrize("action", ["increase-storage", "revoke-ingress-rule"])
def test_a_non_destructive_fix_on_a_protected_target_runs_unattended(action: str) -> None:
    """A full or internet-exposed database is not left waiting for a person."""
    cand = _candidate(action, protected=True, destructive=False, risk="low")
    decision = decide([cand], _votes(cand, ALL_APPROVE), "sev2")
    assert decision.outcome == "execute", decision.rule


def test_veto_escalates_when_nothing_else_is_left() -> None:
    cand = _candidate()
    votes = _votes(cand, ALL_APPROVE)
    votes.append(vote(AgentName.SECURITY, cand, Stance.REJECT, 1.0, "no", veto=True))
    decision = decide([cand], votes, "sev1")
    assert decision.outcome == "escalate"
    assert "vetoed" in decision.rule


def test_abstentions_do_not_dilute_support_but_quorum_counts_voters() -> None:
    cand = _candidate()
    three = {
        AgentName.DIAGNOSIS: (Stance.APPROVE, 0.9),
        AgentName.REMEDIATION: (Stance.APPROVE, 0.9),
        AgentName.FINOPS: (Stance.APPROVE, 0.9),
        AgentName.DETECTION: (Stance.ABSTAIN, 1.0),
        AgentName.SECURITY: (Stance.ABSTAIN, 1.0),
    }
    assert decide([cand], _votes(cand, three), "sev2").outcome == "execute"
    two = dict(three)
    two[AgentName.FINOPS] = (Stance.ABSTAIN, 1.0)
    decision = decide([cand], _votes(cand, two), "sev2")
    assert decision.outcome == "escalate"
    assert "no quorum" in decision.rule


def test_ties_go_to_the_safer_reversible_action_whatever_the_input_order() -> None:
    risky = _candidate("restart-service", reversible=False, rank=0)
    safe = _candidate("rollback-deployment", reversible=True, rank=1)
    votes = _votes(risky, ALL_APPROVE) + _votes(safe, ALL_APPROVE)
    assert decide([risky, safe], votes, "sev2").candidate == safe["id"]
    assert decide([safe, risky], list(reversed(votes)), "sev2").candidate == safe["id"]


def test_severity_limits_the_risk_that_runs_unattended_where_the_operator_says_so() -> None:
    cand = _candidate("scale-out", risk="medium")
    votes = _votes(cand, ALL_APPROVE)
    strict = ConsensusPolicy(max_auto_risk={"sev1": "medium", "sev3": "low"})
    assert decide([cand], votes, "sev1", strict).outcome == "execute"
    decision = decide([cand], votes, "sev3", strict)
    assert decision.outcome == "approval"
    assert "sev3" in decision.rule
    # by default only the spec's rule (destructive on protected) and high risk ask a person
    assert decide([cand], votes, "sev3").outcome == "execute"
    assert decide([_candidate(risk="high")], _votes(_candidate(risk="high"), ALL_APPROVE),
                  "sev1").outcome == "approval"  # fmt: skip


def test_weak_support_escalates_and_no_support_does_nothing() -> None:
    cand = _candidate()
    mixed = dict.fromkeys(AGENTS, (Stance.APPROVE, 0.3))
    mixed[AgentName.SECURITY] = (Stance.REJECT, 0.9)
    mixed[AgentName.DIAGNOSIS] = (Stance.REJECT, 0.9)
    assert decide([cand], _votes(cand, mixed), "sev2").outcome == "escalate"
    against = dict.fromkeys(AGENTS, (Stance.REJECT, 0.8))
    assert decide([cand], _votes(cand, against), "sev2").outcome == "no_action"
    assert decide([], [], "sev2").outcome == "no_action"


def test_policy_refuses_to_let_one_agent_act_alone() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ConsensusPolicy(min_approvers=1)


# -- capacity for one cause on several services runs in one round ------------------------------


def _capacity(service: str, cause: str = "storefront", **changes: Any) -> Candidate:
    changes.setdefault("addresses", "traffic-spike")
    built = _candidate("scale-out", service=service, **changes)
    if service != cause:
        built["cause"] = cause
    return built


def test_capacity_where_a_spike_s_load_lands_runs_beside_the_spike_s_own() -> None:
    # The spike on storefront saturates reports and media, which it calls: three scale-outs
    # for one cause. One per round would leave the dependencies saturated a round each.
    own, reports, media = (
        _capacity(s, rank=i) for i, s in enumerate(("storefront", "reports", "media"))
    )
    votes = [v for c in (own, reports, media) for v in _votes(c, ALL_APPROVE)]

    decision = decide([own, reports, media], votes, "sev1")

    assert decision.outcome == "execute"
    assert decision.candidate == own["id"]
    assert decision.also == (reports["id"], media["id"])
    assert "for the same cause" in decision.rule


def test_only_unattended_capacity_for_the_same_cause_joins_the_plan() -> None:
    own = _capacity("storefront")
    rejected = _capacity("reports", rank=1)  # three agents against it: below the threshold
    risky = _capacity("media", risk="high", rank=2)  # a person must see a high-risk action
    other_cause = _capacity("search", cause="search", addresses="cpu-saturation", rank=3)
    restart = _candidate("restart-service", service="pricing", cause="storefront", rank=4)
    against = dict(ALL_APPROVE) | {
        AgentName.FINOPS: (Stance.REJECT, 1.0),
        AgentName.DIAGNOSIS: (Stance.REJECT, 1.0),
        AgentName.SECURITY: (Stance.REJECT, 1.0),
    }
    votes = _votes(own, ALL_APPROVE) + _votes(rejected, against)
    for c in (risky, other_cause, restart):
        votes += _votes(c, ALL_APPROVE)

    decision = decide([own, rejected, risky, other_cause, restart], votes, "sev1")

    assert decision.candidate == own["id"]
    assert decision.also == ()


def test_any_other_action_runs_alone() -> None:
    rollback = _candidate("rollback-deployment", service="storefront")
    capacity = _capacity("reports", cause="storefront", addresses="bad-deploy")
    votes = _votes(rollback, ALL_APPROVE) + _votes(capacity, ALL_APPROVE)

    decision = decide([rollback, capacity], votes, "sev1")

    assert decision.candidate == rollback["id"]
    assert decision.also == ()


@given(ballots(), st.sampled_from(["sev1", "sev2", "sev3", "sev4"]))
def test_a_plan_holds_only_what_could_run_alone_unattended(ballot: Any, severity: Any) -> None:
    cands, votes = ballot
    decision = decide(cands, votes, severity)
    by_id = {c["id"]: c for c in cands}
    tallies = {t.candidate: t for t in decision.tallies}

    assert not decision.also or decision.outcome == "execute"
    for also in decision.also:
        alone = decide([by_id[also]], votes, severity)
        assert alone.outcome == "execute", (also, alone.rule)
        assert by_id[also]["action"] == by_id[decision.candidate]["action"] == "scale-out"
        assert tallies[also].score >= ConsensusPolicy().auto_threshold
    services = [by_id[c]["service"] for c in (decision.candidate, *decision.also) if c]
    assert len(services) == len(set(services))
