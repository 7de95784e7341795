"""How an incident ends: resolved, escalated to a person, or closed (noise, nothing to do, or a
duplicate of another incident working the same root cause)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from orchestrator.context import RunContext
from orchestrator.state import Entry, IncidentState


def resolve(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    step = runtime.context.clock.step
    return {"status": "resolved", "timeline": [Entry(step=step, node="resolve", text="resolved")]}


def escalate(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """A person is paged, with the reason: escalation is a decision, and its reason is what the
    person reads first."""
    step = runtime.context.clock.step
    why = why_escalated(state)
    return {
        "status": "escalated",
        "reason": why,
        "timeline": [Entry(step=step, node="escalate", text=f"escalated to on-call: {why}")],
    }


def why_escalated(state: IncidentState) -> str:
    """Why the graph reached ``escalate``: consensus chose it, no action of the catalogue
    addresses the cause, or the rounds ran out with nothing that helped or was approved."""
    round_ = state.get("round", 1)
    decisions = state.get("decisions", [])
    last = decisions[-1] if decisions else None
    if last is not None and last["round"] == round_ and last["outcome"] == "escalate":
        return f"consensus chose it ({last['rule']})"
    # a candidate's id is action:service:hash (agents.model.candidate_id)
    tried_text = ", ".join(
        " on ".join(candidate.split(":")[:2]) for candidate in state.get("tried", [])
    )
    if not state.get("candidates"):
        hypotheses = state.get("hypotheses") or []
        top = hypotheses[0] if hypotheses else None
        if top is None or top["service"] == "unknown":
            return "the root cause is unknown: no action can be chosen for it"
        beyond = f" beyond those tried ({tried_text})" if tried_text else ""
        return f"no action of the catalogue addresses {top['fault']} on {top['service']}{beyond}"
    return f"{round_} rounds without recovery; tried: {tried_text or 'nothing'}"


def close(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    step = runtime.context.clock.step
    status = "noise" if state.get("status") == "noise" else "closed"
    owner = state.get("duplicate_of")
    text = f"closed: duplicate of {owner}" if owner else f"closed ({status})"
    return {"status": status, "timeline": [Entry(step=step, node="close", text=text)]}
