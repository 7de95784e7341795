"""What the gateway's routes take and give back: the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.auth.rbac import Role


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Out):
    """Every error answer: what went wrong, and where when a field is to blame."""

    error: str = Field(examples=["invalid_request"])
    detail: str = Field(examples=["alerts[0].labels: field required"])
    fields: list[dict[str, str]] = Field(
        default_factory=list, examples=[[{"field": "alerts[0].labels", "message": "required"}]]
    )


class SkippedOut(_Out):
    path: str
    reason: str


class AlertsAccepted(_Out):
    """A delivery taken: its alerts are queued for the commander (it correlates them into
    incidents behind this answer). Repeat deliveries are accepted again and change nothing."""

    kind: Literal["alerts"] = "alerts"
    source: str = Field(examples=["alertmanager"])
    accepted: int = Field(examples=[2])
    firing: int
    resolved: int
    fingerprints: list[str] = Field(examples=[["alertmanager:4f9a3c2e"]])
    skipped: list[SkippedOut] = Field(default_factory=list)


class SubscriptionHandled(_Out):
    """An SNS subscription handshake: confirmed (SubscriptionConfirmation) or recorded."""

    kind: Literal["sns-subscription"] = "sns-subscription"
    message_type: Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"]
    topic_arn: str
    confirmed: bool


class PendingApproval(_Out):
    candidate: dict[str, Any]
    hash: str = Field(
        description="Approve or reject by sending this back: it binds the answer to this action "
        "and to this one request (single use)."
    )
    action_hash: str = Field(description="sha256 of the action, service and parameters.")
    rule: str
    asked_at: datetime = Field(description="On the estate's clock, as the incident's times.")
    expires_at: datetime = Field(description="On the estate's clock.")
    expires_in_s: float | None = Field(
        default=None,
        description="Wall seconds left to answer (one incident's page only; null elsewhere).",
    )


class IncidentOut(_Out):
    id: str = Field(examples=["inc-3f2a9c1b0d"])
    status: str = Field(examples=["awaiting_approval"])
    severity: str | None = Field(examples=["sev2"])
    title: str = Field(description="The first alert's summary.")
    headline: str = Field(
        description="The incident in one line: cause → action → result.",
        examples=["bad deploy on checkout → rolled back the deployment → recovered in 3 min"],
    )
    services: list[str]
    opened_at: datetime
    updated_at: datetime
    alerts: int
    acknowledged_by: str | None
    pending_approval: PendingApproval | None
    time_to_detect_s: float | None
    time_to_resolve_s: float | None
    duplicate_of: str | None = Field(
        description="The incident this one closed into: it works the same root cause.",
        examples=[None],
    )
    kind: Literal["incident", "triage"] = Field(
        description="triage: opened by alerts that no service of the estate matches; "
        "escalated to a person at once, never acted on.",
        examples=["incident"],
    )
    reason: str | None = Field(
        description="Why, in a line: what a noise verdict found within its band, or what a "
        "triage incident's alert named.",
        examples=[
            "checkout errors 0.4 % and latency 120 ms within their normal band; "
            "no persistent anomaly"
        ],
    )


class IncidentPage(_Out):
    now: datetime = Field(description="The estate's clock now: ages are measured from it.")
    items: list[IncidentOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: last.")


class IncidentDetail(IncidentOut):
    round: int | None
    hypotheses: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    alert_list: list[dict[str, Any]]


class TimelineEntry(_Out):
    at: datetime
    actor: str = Field(description="A graph node (detect, vote, executor, ...) or a person.")
    kind: str
    text: str


class VoteOut(_Out):
    round: int | None = Field(default=None, description="The round it was cast in.")
    agent: str
    candidate: str
    stance: str
    confidence: float
    rationale: str
    evidence: list[str]
    veto: bool


class DecisionOut(_Out):
    round: int
    outcome: str = Field(examples=["approval"])
    candidate: str | None
    rule: str = Field(description="The consensus rule that decided.")
    matrix: dict[str, dict[str, str]] = Field(description="candidate -> agent -> stance")
    scores: dict[str, float]


class VoteMatrix(_Out):
    votes: list[VoteOut]
    decisions: list[DecisionOut]


class ActionOut(_Out):
    key: str
    round: int
    candidate: str
    action: str
    service: str
    status: str
    detail: str
    at: datetime
    rollback: dict[str, Any] | None
    approved_by: str | None


class Point(_Out):
    at: datetime
    value: float


class MetricSeries(_Out):
    service: str
    metric: str = Field(examples=["errors"])
    unit: str = Field(default="", description="What the values are in; empty when unknown.")
    baseline: float
    limit: float | None = Field(default=None, description="A line to draw: an SLO, a maximum.")
    limit_label: str | None = Field(default=None, examples=["SLO"])
    onset_at: datetime | None = Field(description="Where detection dates the anomaly's start.")
    points: list[Point]


class Mark(_Out):
    at: datetime
    kind: Literal["confirmed", "action"]
    label: str


class IncidentSeries(_Out):
    """The metrics that made the incident, as charts: each anomalous metric's recent values,
    its baseline and onset, and marks for confirmation and every action."""

    metrics: list[MetricSeries]
    marks: list[Mark]


class AuditEntryOut(_Out):
    seq: int
    at: datetime
    actor: str
    kind: str
    incident_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(_Out):
    items: list[AuditEntryOut]
    next_after: int | None = Field(description="Pass as ?after= for the next page; null: last.")


class ChainOut(_Out):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None


class ApprovalIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"hash": "3b1f" + "0" * 60, "comment": "failover is safe now"}]
        },
    )

    hash: str = Field(
        min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$",
        description="The pending approval's hash: binds the answer to that exact action.",
    )  # fmt: skip
    comment: str = Field(default="", max_length=2000)


class ApprovalOut(_Out):
    incident_id: str
    answer: Literal["grant", "deny"]
    by: str
    status: str = Field(description="The incident's status after the answer.")


class NoteIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "paging the DBA"}]}
    )

    text: str = Field(min_length=1, max_length=4000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"to": "alice"}]})

    to: str = Field(
        min_length=1, max_length=200, pattern=r"^[\w.@+-]+$",
        description="Who owns the incident from now on: a name, an email, a team.",
    )  # fmt: skip


class ResolveIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "fixed by hand: pool resized"}]}
    )

    reason: str = Field(min_length=1, max_length=2000)


class Changed(_Out):
    incident_id: str
    changed: bool = Field(description="False when it was so already (acknowledged, ended).")
    status: str


class KeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "alertmanager-prod", "roles": ["ingest"]}]},
    )

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
    roles: list[Role] = Field(min_length=1)


class KeyCreated(_Out):
    id: str
    name: str
    roles: list[Role]
    key: str = Field(description="The secret. Shown this once; store it now.")


class KeyOut(_Out):
    id: str
    name: str
    roles: list[Role]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class Health(_Out):
    status: Literal["ok", "degraded"]
    step: int
    estate_done: bool
    queued_alerts: int
    last_error: str | None


class Me(_Out):
    """Who the credential says you are, and what you may do."""

    subject: str = Field(examples=["alice@example.com"])
    roles: list[Role]
    via: Literal["api-key", "jwt"]
    can_approve: bool
    can_respond: bool = Field(description="May acknowledge, add notes and resolve.")


class AgentHealth(_Out):
    """One agent as the metrics see it since the commander started."""

    agent: str
    votes: int
    abstentions: int
    rejections: int
    rounds: int = Field(description="Rounds the agent voted in (its latency samples).")
    mean_latency_s: float | None
