"""Escalation is a decision a person reads: its reason says why the commander stopped."""

from __future__ import annotations

from typing import Any

from orchestrator.nodes.finish import why_escalated
from orchestrator.state import IncidentState


def _state(**values: Any) -> IncidentState:
    base: dict[str, Any] = {
        "incident_id": "inc-1", "alerts": [], "opened_step": 0, "votes": [], "decisions": [],
        "actions": [], "tried": [], "timeline": [],
    }  # fmt: skip
    return IncidentState(**{**base, **values})  # type: ignore[typeddict-item]


def _hypothesis(service: str, fault: str) -> dict[str, Any]:
    return {"service": service, "fault": fault, "confidence": 0.8, "evidence": []}


def test_no_action_for_the_cause_names_the_cause() -> None:
    state = _state(hypotheses=[_hypothesis("orders-db", "cpu-saturation")], candidates=[], round=1)
    assert why_escalated(state) == (
        "no action of the catalogue addresses cpu-saturation on orders-db"
    )


def test_an_unknown_cause_says_so() -> None:
    state = _state(hypotheses=[_hypothesis("unknown", "unknown")], candidates=[], round=1)
    assert why_escalated(state) == "the root cause is unknown: no action can be chosen for it"


def test_rounds_spent_list_what_was_tried() -> None:
    state = _state(
        hypotheses=[_hypothesis("checkout", "bad-deploy")],
        candidates=[{"id": "scale-out:checkout:ab12"}],
        tried=["rollback-deployment:checkout:9f00", "scale-out:checkout:ab12"],
        round=2, max_rounds=2,
    )  # fmt: skip
    assert why_escalated(state) == (
        "2 rounds without recovery; tried: rollback-deployment on checkout, scale-out on checkout"
    )


def test_nothing_left_to_try_after_a_round_names_what_was_tried() -> None:
    state = _state(
        hypotheses=[_hypothesis("checkout", "bad-deploy")], candidates=[],
        tried=["rollback-deployment:checkout:9f00"], round=2,
    )  # fmt: skip
    assert why_escalated(state) == (
        "no action of the catalogue addresses bad-deploy on checkout beyond those tried "
        "(rollback-deployment on checkout)"
    )


def test_a_consensus_to_escalate_gives_its_rule() -> None:
    decision = {
        "round": 1, "outcome": "escalate", "candidate": None,
        "rule": "security vetoed every candidate", "matrix": {}, "scores": {},
    }  # fmt: skip
    state = _state(candidates=[{"id": "x:y:z"}], decisions=[decision], round=1)
    assert why_escalated(state) == "consensus chose it (security vetoed every candidate)"
