"""Feeding the Prometheus metrics from incident threads: each call counts what a thread did
since the last call (``seen`` remembers how far it got), so nothing is counted twice."""

from __future__ import annotations

from typing import Any

from orchestrator.context import Clock
from services.metrics import CommanderMetrics


def count(
    metrics: CommanderMetrics,
    clock: Clock,
    seen: dict[str, int],
    status: str,
    values: Any,
    *,
    newly_finished: bool,
) -> None:
    votes, decisions, actions = (
        values.get("votes", []), values.get("decisions", []), values.get("actions", [])
    )  # fmt: skip
    for v in votes[seen.get("votes", 0) :]:
        metrics.votes.labels(v["agent"], v["stance"]).inc()
    for d in decisions[seen.get("decisions", 0) :]:
        metrics.decisions.labels(d["outcome"]).inc()
    for a in actions[seen.get("actions", 0) :]:
        metrics.actions.labels(a["action"], a["status"]).inc()
    seen |= {"votes": len(votes), "decisions": len(decisions), "actions": len(actions)}
    onset = values.get("onset_step")
    confirmed = values.get("confirmed_step")
    if confirmed is not None and onset is not None and not seen.get("detected"):
        metrics.time_to_detect.observe(max(0, confirmed - onset) * clock.step_s)
        seen["detected"] = 1
    if newly_finished:
        metrics.incidents_closed.labels(status).inc()
        if status == "resolved" and onset is not None:
            metrics.time_to_resolve.observe(max(0, clock.step - onset) * clock.step_s)


def counted_before(values: Any) -> dict[str, int]:
    """``seen`` for a thread adopted as it stands: what it did before is counted in the metrics
    of the process that did it, so a rebuilt commander counts from here on (an incident that
    ended is not closed again, its time to resolve not measured at the step it was adopted)."""
    return {
        "votes": len(values.get("votes", [])),
        "decisions": len(values.get("decisions", [])),
        "actions": len(values.get("actions", [])),
        "detected": int(values.get("confirmed_step") is not None),
    }
