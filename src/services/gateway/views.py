"""Incident state (a thread's checkpoint, its summary, its audit entries) as the API's shapes.
Pure: the routes fetch, these arrange."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator import units
from orchestrator.context import Clock
from orchestrator.summary import IncidentSummary
from services.audit import AuditEntry
from services.aws.resources import ServiceProfile
from services.gateway.schemas import (
    ActionOut,
    AuditEntryOut,
    DecisionOut,
    IncidentDetail,
    IncidentOut,
    IncidentSeries,
    Mark,
    MetricSeries,
    Point,
    TimelineEntry,
    VoteMatrix,
    VoteOut,
)

PERSON_KINDS = frozenset(
    {
        "incident.acknowledged",
        "incident.assigned",
        "note",
        "approval.granted",
        "approval.denied",
        "approval.expired",
    }
)
"""Audit kinds that belong on an incident's timeline beside the graph's own entries."""


def incident(summary: IncidentSummary) -> IncidentOut:
    return IncidentOut.model_validate(_summary_fields(summary))


def detail(
    summary: IncidentSummary,
    values: dict[str, Any],
    *,
    clock: Clock | None = None,
    step_wall_s: float | None = None,
) -> IncidentDetail:
    """With the incident's ``clock`` and the wall seconds a step of it takes, a pending
    approval says how long it has left on the wall clock (a person answers in wall time)."""
    fields = _summary_fields(summary)
    pending = fields["pending_approval"]
    if pending is not None and clock is not None and step_wall_s is not None:
        steps_left = (pending["expires_at"] - clock.now).total_seconds() / clock.step_s
        fields["pending_approval"] = {**pending, "expires_in_s": max(0.0, steps_left * step_wall_s)}
    return IncidentDetail.model_validate(
        {
            **fields,
            "round": values.get("round"),
            "hypotheses": values.get("hypotheses", []),
            "anomalies": values.get("anomalies", []),
            "candidates": values.get("candidates", []),
            "alert_list": values.get("alerts", []),
        }
    )


def _summary_fields(summary: IncidentSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "status": summary.status,
        "severity": summary.severity,
        "title": summary.title,
        "services": list(summary.services),
        "opened_at": summary.opened_at,
        "updated_at": summary.updated_at,
        "alerts": summary.alerts,
        "acknowledged_by": summary.acknowledged_by,
        "pending_approval": summary.pending_approval,
        "time_to_detect_s": summary.time_to_detect_s,
        "time_to_resolve_s": summary.time_to_resolve_s,
        "duplicate_of": summary.duplicate_of,
        "kind": summary.kind,
        "reason": summary.reason,
        "headline": summary.headline or summary.title,
    }


def timeline(
    values: dict[str, Any], entries: Iterable[AuditEntry], clock: Clock
) -> list[TimelineEntry]:
    """The graph's timeline and what people did, in the order of the commander's clock."""
    rows: list[tuple[int, int, TimelineEntry]] = []
    for index, item in enumerate(values.get("timeline", [])):
        rows.append(
            (
                item["step"],
                index,
                TimelineEntry(
                    at=clock.at(item["step"]), actor=item["node"], kind="graph", text=item["text"]
                ),
            )
        )
    for entry in entries:
        if entry.kind not in PERSON_KINDS:
            continue
        step = int(entry.data.get("step", clock.step))
        rows.append(
            (
                step,
                10**9 + entry.seq,
                TimelineEntry(
                    at=clock.at(step), actor=entry.actor, kind=entry.kind, text=_say(entry)
                ),
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[2] for row in rows]


def _say(entry: AuditEntry) -> str:
    data = entry.data
    match entry.kind:
        case "incident.acknowledged":
            return f"{entry.actor} acknowledged"
        case "incident.assigned":
            return f"{entry.actor} assigned it to {data.get('to')}"
        case "note":
            return str(data.get("text", ""))
        case "approval.granted" | "approval.denied":
            verb = "approved" if entry.kind == "approval.granted" else "rejected"
            comment = f": {data['comment']}" if data.get("comment") else ""
            return f"{entry.actor} {verb} {data.get('candidate')}{comment}"
        case _:
            return f"approval of {data.get('candidate')} expired unanswered"


def votes(values: dict[str, Any]) -> VoteMatrix:
    return VoteMatrix(
        votes=[VoteOut.model_validate(v) for v in values.get("votes", [])],
        decisions=[DecisionOut.model_validate(d) for d in values.get("decisions", [])],
    )


def actions(values: dict[str, Any], clock: Clock) -> list[ActionOut]:
    return [
        ActionOut(
            key=a["key"],
            round=a["round"],
            candidate=a["candidate"],
            action=a["action"],
            service=a["service"],
            status=a["status"],
            detail=a["detail"],
            at=clock.at(a["step"]),
            rollback=a["rollback"],
            approved_by=a["approved_by"],
        )
        for a in values.get("actions", [])
    ]


def series(
    values: dict[str, Any],
    got: dict[str, dict[str, list[float]]],
    clock: Clock,
    catalogue: Mapping[str, ServiceProfile] | None = None,
) -> IncidentSeries:
    """Charts of the incident's anomalous metrics. ``got`` holds one value per step ending at
    the clock's step (as ``orchestrator.evidence.series`` reads them), so values are dated
    from the end. With the estate's ``catalogue``, each says its unit and its limit."""
    metrics = []
    for anomaly in values.get("anomalies", []):
        profile = (catalogue or {}).get(anomaly["service"])
        limit = units.limit_of(anomaly["metric"], profile)
        recent = got.get(anomaly["service"], {}).get(anomaly["metric"], [])
        last = clock.step - len(recent) + 1
        onset = anomaly.get("onset_step")
        metrics.append(
            MetricSeries(
                service=anomaly["service"],
                metric=anomaly["metric"],
                unit=units.unit_of(anomaly["metric"], None if profile is None else profile.kind),
                baseline=float(anomaly["baseline"]),
                limit=None if limit is None else limit.value,
                limit_label=None if limit is None else limit.label,
                onset_at=None if onset is None else clock.at(onset),
                points=[Point(at=clock.at(last + i), value=v) for i, v in enumerate(recent)],
            )
        )
    marks = []
    if values.get("confirmed_step") is not None:
        marks.append(
            Mark(at=clock.at(values["confirmed_step"]), kind="confirmed", label="confirmed")
        )
    for action in values.get("actions", []):
        label = f"{action['action']} on {action['service']} ({action['status']})"
        marks.append(Mark(at=clock.at(action["step"]), kind="action", label=label))
    return IncidentSeries(metrics=metrics, marks=marks)


def audit(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        seq=entry.seq, at=entry.at, actor=entry.actor, kind=entry.kind,
        incident_id=entry.incident_id, data=entry.data, prev_hash=entry.prev_hash,
        hash=entry.hash,
    )  # fmt: skip
