"""Remediation: each fault gets its catalogue action, sized and parameterised for the service."""

from __future__ import annotations

from typing import Any

import pytest

import agentkit
from agents import diagnosis, remediation
from agents.model import Hypothesis, ServiceFacts, Stance
from agents.remediation import PLAYBOOK, propose
from services.scenario.model import FaultKind

DATABASE_PLAYS = {"reboot-database", "failover-database", "increase-storage"}
COMPUTE_PLAYS = {"scale-out", "scale-in", "rollback-deployment", "restart-service"}


def _hyp(service: str, fault: str, confidence: float = 0.8) -> Hypothesis:
    return Hypothesis(service=service, fault=fault, confidence=confidence, evidence=[])


def _actions(fault: str, facts: ServiceFacts) -> list[str]:
    return [c["action"] for c in propose([_hyp(facts["name"], fault)], agentkit.estate(facts))]


CATALOGUE = [
    ("bad-deploy", agentkit.service(previous_revision="checkout:41"), "rollback-deployment",
     {"to": "checkout:41"}),
    ("disk-full", agentkit.database(), "increase-storage", {}),
    ("cost-runaway", agentkit.service(capacity=12, baseline_capacity=4), "scale-in",
     {"desired": 4}),
    ("connection-exhaustion", agentkit.database(), "reboot-database", {}),
    ("dependency-latency", agentkit.database(), "failover-database", {}),
]  # fmt: skip
"""Fault, the service it is on, the action expected first and its parameters."""


@pytest.mark.parametrize(
    ("fault", "facts", "action", "params"), CATALOGUE, ids=[row[0] for row in CATALOGUE]
)
def test_each_fault_gets_its_catalogue_action_first(
    fault: str, facts: ServiceFacts, action: str, params: dict[str, Any]
) -> None:
    first = propose([_hyp(facts["name"], fault)], agentkit.estate(facts))[0]

    assert (first["action"], first["params"]) == (action, params)
    assert first["service"] == facts["name"]
    assert first["addresses"] == fault
    assert first["rank"] == 0
    assert not first["widens_exposure"]


@pytest.mark.parametrize(
    ("fault", "facts"),
    [
        ("cost-runaway", agentkit.service(capacity=4, baseline_capacity=4)),
    ],
    ids=["already-at-baseline"],
)
def test_an_action_without_its_target_is_not_proposed(fault: str, facts: ServiceFacts) -> None:
    assert _actions(fault, facts) == []


def test_a_bad_deploy_with_no_previous_revision_gets_no_rollback() -> None:
    actions = _actions("bad-deploy", agentkit.service(previous_revision=None))

    assert "rollback-deployment" not in actions
    assert actions[0] == "restart-service"


@pytest.mark.parametrize("fault", ["connection-exhaustion", "dependency-latency", "disk-full"])
@pytest.mark.parametrize("kind", ["ecs-service", "asg", "lambda"])
def test_database_plays_are_never_proposed_for_a_non_database(fault: str, kind: str) -> None:
    assert not DATABASE_PLAYS & set(_actions(fault, agentkit.service(kind=kind)))


@pytest.mark.parametrize(
    "fault", ["bad-deploy", "memory-leak", "cpu-saturation", "traffic-spike", "cost-runaway"]
)
def test_compute_plays_are_never_proposed_for_a_database(fault: str) -> None:
    facts = agentkit.database(previous_revision="v1", capacity=3, baseline_capacity=1)

    assert not COMPUTE_PLAYS & set(_actions(fault, facts))


@pytest.mark.parametrize(
    ("fault", "facts"),
    [
        ("connection-exhaustion", agentkit.service()),
        ("cpu-saturation", agentkit.database()),
        ("memory-leak", agentkit.database()),
    ],
    ids=["database-fault-on-ecs", "compute-fault-on-rds", "leak-on-rds"],
)
def test_a_fault_no_action_addresses_on_the_services_kind_gets_no_action(
    fault: str, facts: ServiceFacts
) -> None:
    """Nothing of the catalogue lowers a database's CPU: no reboot "to see" (it drops every
    connection and fixes nothing); the incident goes to a person with that reason."""
    assert _actions(fault, facts) == []


def test_a_lambda_is_never_restarted() -> None:
    actions = _actions("memory-leak", agentkit.service(kind="lambda"))

    assert "restart-service" not in actions
    assert actions == ["scale-out"]


def test_no_scale_out_for_a_service_whose_cpu_is_within_its_target() -> None:
    """Scaled out once against an attack, a front door's CPU is back under target while the
    load it passes on saturates its dependency: more of the front door would idle and cost."""
    facts = agentkit.service(capacity=6, pressure=0.93, max_capacity=10)

    assert "scale-out" not in _actions("traffic-spike", facts)


@pytest.mark.parametrize(
    ("capacity", "pressure", "max_capacity", "desired"),
    [
        (4, 2.9, 16, 12),  # enough to bring CPU back to target
        (4, 1.0, 16, 6),  # at least half again
        (2, 1.0, 16, 3),
        (1, 1.1, 16, 2),  # never less than one more
        (4, 10.0, 16, 16),  # capped at the ceiling
    ],
)
def test_scale_out_is_sized_from_the_pressure(
    capacity: int, pressure: float, max_capacity: int, desired: int
) -> None:
    facts = agentkit.service(capacity=capacity, pressure=pressure, max_capacity=max_capacity)

    [candidate] = propose([_hyp("checkout", "traffic-spike")], agentkit.estate(facts))

    assert candidate["params"] == {"desired": desired}
    assert candidate["params"]["desired"] >= capacity + 1


def test_excluded_ids_are_not_proposed_again() -> None:
    facts = agentkit.estate(agentkit.service(previous_revision="checkout:41"))
    hypotheses = [_hyp("checkout", "bad-deploy")]
    everything = propose(hypotheses, facts)
    tried = everything[0]["id"]

    rest = propose(hypotheses, facts, exclude=[tried])

    assert tried not in [c["id"] for c in rest]
    assert [c["id"] for c in rest] == [c["id"] for c in everything[1:]]
    assert [c["rank"] for c in rest] == list(range(len(rest)))


@pytest.mark.parametrize("protected", [True, False])
def test_the_protected_flag_is_carried_onto_every_candidate(protected: bool) -> None:
    facts = agentkit.estate(agentkit.service(protected=protected, previous_revision="r1"))

    candidates = propose([_hyp("checkout", "bad-deploy")], facts)

    assert len(candidates) == 3
    assert {c["protected"] for c in candidates} == {protected}


@pytest.mark.parametrize(("capacity", "risk"), [(1, "medium"), (2, "low"), (6, "low")])
def test_a_restart_is_low_risk_only_when_it_can_roll_through_two_or_more_units(
    capacity: int, risk: str
) -> None:
    facts = agentkit.estate(agentkit.service(capacity=capacity))

    [restart] = [
        c
        for c in propose([_hyp("checkout", "memory-leak")], facts)
        if c["action"] == "restart-service"
    ]

    assert restart["risk"] == risk
    assert restart["destructive"]


def test_candidate_ids_are_stable_for_the_same_inputs_and_differ_with_the_params() -> None:
    hypotheses = [_hyp("checkout", "traffic-spike")]

    first = propose(hypotheses, agentkit.estate(agentkit.service(pressure=2.0)))
    again = propose(hypotheses, agentkit.estate(agentkit.service(pressure=2.0)))
    bigger = propose(hypotheses, agentkit.estate(agentkit.service(pressure=3.0)))

    assert [c["id"] for c in first] == [c["id"] for c in again]
    assert first[0]["id"] != bigger[0]["id"]


def test_candidates_follow_the_hypotheses_in_order_and_an_action_is_proposed_once() -> None:
    facts = agentkit.estate(
        agentkit.service("checkout", previous_revision="checkout:41"),
        agentkit.database("orders-db"),
    )
    hypotheses = [
        _hyp("orders-db", "disk-full"),
        _hyp("checkout", "cpu-saturation"),
        _hyp("checkout", "traffic-spike"),  # its only play, the same scale-out, is already in
        _hyp("ghost", "bad-deploy"),  # a service with no facts gets nothing
    ]

    candidates = propose(hypotheses, facts)

    assert [(c["action"], c["service"], c["addresses"]) for c in candidates] == [
        ("increase-storage", "orders-db", "disk-full"),
        ("scale-out", "checkout", "cpu-saturation"),
        ("restart-service", "checkout", "cpu-saturation"),
    ]
    assert [c["rank"] for c in candidates] == [0, 1, 2]


def test_every_fault_kind_in_the_scenario_vocabulary_has_a_play() -> None:
    assert {kind.value for kind in FaultKind} <= set(PLAYBOOK)


def test_the_proposer_approves_its_first_choice_most_strongly() -> None:
    facts = agentkit.estate(agentkit.service(previous_revision="checkout:41"))
    candidates = propose([_hyp("checkout", "bad-deploy")], facts)

    votes = [remediation.vote_on(c) for c in candidates]
    confidences = [v["confidence"] for v in votes]

    assert {v["stance"] for v in votes} == {Stance.APPROVE}
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[0] > confidences[-1]
    assert remediation.vote_on(agentkit.candidate(rank=50))["confidence"] >= 0.3


def test_a_traffic_spike_gets_capacity_wherever_its_load_saturates_along_its_path() -> None:
    front = agentkit.service("edge-api", capacity=3, pressure=2.2)
    media = agentkit.service("media", capacity=6, pressure=1.3)  # the spike's load reached it
    billing = agentkit.service("billing", capacity=3, pressure=0.7)  # it did not here
    facts = agentkit.estate(front, media, billing)
    below = {"edge-api": ["media", "billing"]}

    got = propose([_hyp("edge-api", "traffic-spike")], facts, below=below)

    assert [(c["action"], c["service"], c.get("cause")) for c in got] == [
        ("scale-out", "edge-api", None),
        ("scale-out", "media", "edge-api"),
    ]
    # what diagnosis thinks of it is what it thinks of the spike, not of media on its own
    vote = diagnosis.vote_on(got[1], [_hyp("edge-api", "traffic-spike", 0.49)])
    assert (vote["stance"], vote["confidence"]) == (Stance.APPROVE, 0.49)


def test_a_fault_inside_one_service_gets_no_capacity_on_its_dependencies() -> None:
    front = agentkit.service("edge-api", capacity=3, pressure=2.2)
    media = agentkit.service("media", capacity=6, pressure=1.3)
    below = {"edge-api": ["media"]}

    got = propose([_hyp("edge-api", "cpu-saturation")], agentkit.estate(front, media), below=below)

    assert {c["service"] for c in got} == {"edge-api"}
