"""Consensus over this round's votes; the decision, its vote matrix and its rule are kept."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from agents.model import Severity
from orchestrator import consensus
from orchestrator.context import RunContext
from orchestrator.state import DecisionRecord, Entry, IncidentState


def decide(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    candidates = state.get("candidates", [])
    severity: Severity = state.get("severity", "sev2")  # type: ignore[assignment]
    decision = consensus.decide(candidates, state["votes"], severity, ctx.policy.consensus)
    record = DecisionRecord(
        round=state.get("round", 1),
        outcome=decision.outcome,
        candidate=decision.candidate,
        rule=decision.rule,
        matrix=decision.matrix,
        scores={t.candidate: t.score for t in decision.tallies},
    )
    if decision.also:
        record["also"] = list(decision.also)
    update: dict[str, Any] = {
        "decisions": [record],
        "pending": decision.candidate,
        "timeline": [
            Entry(
                step=ctx.clock.step,
                node="consensus",
                text=f"{decision.outcome} {decision.candidate or ''}: {decision.rule}",
            )
        ],
    }
    if decision.outcome == "approval":
        update["status"] = "awaiting_approval"
        update["approval_requested"] = True
    return update


def after_decide(state: IncidentState) -> Literal["execute", "approval", "escalate", "close"]:
    outcome = state["decisions"][-1]["outcome"]
    if outcome == "execute":
        return "execute"
    if outcome == "approval":
        return "approval"
    if outcome == "escalate":
        return "escalate"
    return "close"
