"""Two faults at once worked by one incident: once its first cause is fixed, what is left is a
second fault, handed to an incident of its own; the same fault seen again on a neighbour is not."""

from __future__ import annotations

from typing import Any

import pytest

from agents.model import Candidate, Hypothesis
from orchestrator.nodes.analyse import _fixed, after_diagnose
from orchestrator.runner import RunOptions, run_scenario
from orchestrator.state import ActionRecord, IncidentState, Verification
from services.aws.port import AwsPort
from services.scenario.loader import builtin_scenarios, load_scenario

# web calls cart and search; cart calls cart-db; search calls nothing
DEPENDS_ON = {"web": ["cart", "search"], "cart": ["cart-db"], "search": [], "cart-db": []}


def _hypothesis(service: str, fault: str, confidence: float = 0.8) -> Hypothesis:
    return Hypothesis(service=service, fault=fault, confidence=confidence, evidence=[])


def _state(
    fixed: Hypothesis,
    *,
    action: str = "restart-service",
    status: str = "succeeded",
    improved: bool = True,
    unrecovered: tuple[str, ...] = ("search",),
) -> IncidentState:
    """Round 1 ran ``action`` for ``fixed``; verification found what ``improved`` and
    ``unrecovered`` say."""
    candidate: dict[str, Any] = {
        "id": f"{action}:{fixed['service']}:1",
        "action": action,
        "service": fixed["service"],
        "addresses": fixed["fault"],
    }
    record: dict[str, Any] = {
        "round": 1,
        "candidate": candidate["id"],
        "action": action,
        "service": fixed["service"],
        "status": status,
    }
    return IncidentState(
        incident_id="inc-1",
        alerts=[],
        opened_step=10,
        round=1,
        hypotheses=[fixed, _hypothesis("search", "cpu-saturation", 0.5)],
        anomalies=[
            {"service": fixed["service"], "metric": "memory"},
            {"service": "search", "metric": "cpu"},
            {"service": "web", "metric": "latency"},
        ],
        candidates=[Candidate(**candidate)],  # type: ignore[typeddict-item]
        actions=[ActionRecord(**record)],  # type: ignore[typeddict-item]
        verification=Verification(round=1, improved=improved, unrecovered=list(unrecovered)),
        votes=[],
        decisions=[],
        tried=[],
        timeline=[],
    )


LEAK = _hypothesis("cart", "memory-leak")
SECOND = _hypothesis("search", "cpu-saturation", 0.9)


def test_a_fault_on_a_part_that_neither_calls_nor_serves_the_fixed_one_is_handed_on() -> None:
    assert _fixed(_state(LEAK), SECOND, DEPENDS_ON) == LEAK


@pytest.mark.parametrize(
    ("state", "top", "why"),
    [
        (_state(LEAK, unrecovered=("cart", "search")), SECOND, "its own service is still out"),
        (_state(LEAK, improved=False), SECOND, "the action made nothing better"),
        (_state(LEAK, status="failed"), SECOND, "the action did not run"),
        (_state(LEAK), _hypothesis("cart", "bad-deploy"), "a second cause on the same service"),
        (_state(LEAK), _hypothesis("unknown", "unknown"), "nothing named"),
        (
            _state(_hypothesis("cart", "cpu-saturation"), action="scale-out"),
            _hypothesis("cart-db", "cpu-saturation"),
            "the same fault seen again below",
        ),
        (
            _state(_hypothesis("web", "traffic-spike"), action="scale-out"),
            _hypothesis("cart-db", "connection-exhaustion"),
            "the served spike's load goes on below",
        ),
    ],
)
def test_no_hand_off(state: IncidentState, top: Hypothesis, why: str) -> None:
    assert _fixed(state, top, DEPENDS_ON) is None, why


def test_a_different_fault_below_a_fixed_leak_is_a_second_fault() -> None:
    """A memory leak harms its own service only: a database below it running out of
    connections is a fault of its own."""
    below = _hypothesis("cart-db", "connection-exhaustion")

    assert _fixed(_state(LEAK), below, DEPENDS_ON) == LEAK


def test_an_incident_that_handed_on_resolves_only_in_the_round_it_did() -> None:
    state = _state(LEAK)
    state["handed_off"] = {"step": 19, "round": 2, "hypothesis": SECOND, "owner": None}

    assert after_diagnose({**state, "round": 2}) == "resolve"  # type: ignore[typeddict-item]
    assert after_diagnose({**state, "round": 3}) == "propose"  # type: ignore[typeddict-item]


def test_two_faults_at_once_end_as_two_incidents_each_naming_its_cause(aws: AwsPort) -> None:
    """A memory leak on profile and, four minutes later, a traffic spike on pricing: parts of
    the estate that share only their front door, so their alarms open one incident."""
    loaded = load_scenario(builtin_scenarios()["profile-leak-while-pricing-spikes"])

    result = run_scenario(aws, loaded, RunOptions())

    assert result.passed, result.failed_expectations
    assert [(c.service, c.fault) for c in result.root_causes] == [
        ("profile", "memory-leak"),
        ("pricing", "traffic-spike"),
    ]
    first, second = result.incident_ids
    events = [t["event"] for t in result.timeline]
    assert any(
        e.startswith(f"{first} diagnosis: memory-leak on profile is fixed")
        and e.endswith("traffic-spike on pricing, which neither calls nor serves it: "
                       "handed to a new incident")
        for e in events
    )  # fmt: skip
    assert f"{first} resolve: resolved" in events
    assert any(e.startswith(f"{second} consensus: execute scale-out:pricing") for e in events)
