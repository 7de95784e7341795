"""Detection: confirm the incident from the metrics, wait for persistence, or close noise."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents import detection
from orchestrator import evidence
from orchestrator.context import RunContext
from orchestrator.correlation import scope
from orchestrator.state import Entry, IncidentState


def detect(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    step = ctx.clock.step
    names = list(ctx.estate.services)
    got = evidence.series(ctx, names)
    tiers = {name: ctx.catalogue[name].tier for name in names}
    security = any(a["fault_hint"] for a in state["alerts"])
    flips = sum(1 for a in state["alerts"] if a["source"] == "cloudwatch")
    focus = {a["service"] for a in state["alerts"]} & set(names)
    assessment = detection.assess(
        got,
        tiers=tiers,
        persistence=ctx.policy.persistence,
        security_finding=security,
        alarm_flips=flips,
        focus=focus,
        ms_per_latency_unit={
            name: evidence.ms_per_latency_unit(ctx.estate.services[name]) for name in focus
        },
        slos=evidence.slos(ctx),
        ignore={(service, "capacity") for service in ctx.scaled},
        found=evidence.anomalies(ctx, ctx.policy.persistence),
    )
    anomalies: list[dict[str, Any]] = [
        {
            "service": a.service,
            "metric": a.metric,
            "onset_step": step - (len(got[a.service][a.metric]) - 1 - a.onset_index),
            "score": round(a.score, 3),
            "baseline": a.baseline,
            "latest": a.latest,
        }
        for a in assessment.anomalies
    ]
    # Anomalies in parts of the estate that share nothing with what the alerts are about are
    # another fault's: not this incident's to verify against, nor its services.
    near = scope(focus, ctx.estate.depends_on)
    anomalies = [a for a in anomalies if a["service"] in near] or anomalies
    if assessment.confirmed:
        onset = min((a["onset_step"] for a in anomalies), default=state["opened_step"])
        services = sorted(
            {a["service"] for a in anomalies} | {a["service"] for a in state["alerts"]}
        )
        return {
            "status": "confirmed",
            "confirmed_step": step,
            "onset_step": min(onset, state["opened_step"]),
            "severity": assessment.severity,
            "anomalies": anomalies,
            "services": services,
            "timeline": [_entry(step, f"confirmed {assessment.severity}: " + _summary(anomalies))],
        }
    checks = state.get("confirm_checks", 0)
    recent = evidence.anomalies(ctx, persistence=1)
    if recent and checks < ctx.policy.persistence - 1:
        return {
            "status": "open",
            "confirm_checks": checks + 1,
            "timeline": [_entry(step, "anomaly not yet persistent; checking again next step")],
        }
    reason = assessment.noise_reason or "no persistent anomaly"
    return {
        "status": "noise",
        "reason": reason,
        "timeline": [_entry(step, f"closed as noise: {reason}")],
    }


def wait_confirm(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Pause until the next step; the commander resumes the thread when its clock gets there."""
    interrupt({"type": "wait", "until_step": runtime.context.clock.step + 1})
    return {}


def after_detect(state: IncidentState) -> Literal["diagnose", "wait_confirm", "close"]:
    status = state.get("status")
    if status == "confirmed":
        return "diagnose"
    if status == "open":
        return "wait_confirm"
    return "close"


def _entry(step: int, text: str) -> Entry:
    return Entry(step=step, node="detection", text=text)


def _summary(anomalies: list[dict[str, Any]]) -> str:
    return ", ".join(f"{a['service']} {a['metric']}" for a in anomalies[:6]) or "security finding"
