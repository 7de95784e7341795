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
    step = runtime.context.clock.step
    text = "escalated to on-call: no action carried or none helped"
    return {"status": "escalated", "timeline": [Entry(step=step, node="escalate", text=text)]}


def close(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    step = runtime.context.clock.step
    status = "noise" if state.get("status") == "noise" else "closed"
    owner = state.get("duplicate_of")
    text = f"closed: duplicate of {owner}" if owner else f"closed ({status})"
    return {"status": status, "timeline": [Entry(step=step, node="close", text=text)]}
