"""The incident graph's state. Every key that parallel nodes write has an explicit reducer."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from agents.model import Candidate, Hypothesis, Vote

Status = Literal[
    "open", "confirmed", "noise", "mitigating", "awaiting_approval", "resolved", "escalated",
    "closed",
]  # fmt: skip


class Alert(TypedDict):
    """One normalised alert: what fired, about which service, when (simulated step)."""

    fingerprint: str
    source: str
    """cloudwatch | guardduty | cloudtrail | detector | commander (a second fault one incident
    handed on, ``Commander._hand_off``), or the gateway's source (alertmanager, grafana,
    pagerduty, generic, ...)"""
    service: str
    """The service of the estate it is about; '' for a triage incident's alert (none matches)."""
    summary: str
    step: int
    fault_hint: str | None
    """What a security finding names (credential-compromise, ...); None for metric alarms."""
    details: dict[str, Any]


class Entry(TypedDict):
    step: int
    node: str
    text: str


class ActionRecord(TypedDict):
    key: str
    round: int
    candidate: str
    action: str
    service: str
    status: str
    detail: str
    step: int
    rollback: dict[str, Any] | None
    approved_by: str | None
    before: dict[str, float]
    """The anomalous metrics' latest values when the action ran (``service|metric``)."""


class DecisionRecord(TypedDict):
    round: int
    outcome: str
    candidate: str | None
    rule: str
    matrix: dict[str, dict[str, str]]
    scores: dict[str, float]
    also: NotRequired[list[str]]
    """With ``execute``: candidates run in the same round as ``candidate`` (capacity for the
    same cause on other services, ``consensus.companions``)."""


class Verification(TypedDict):
    """What verification found after a round's actions had time to work."""

    round: int
    improved: bool
    """Some anomalous metric moved at least a quarter of the way back (nothing rolled back)."""
    unrecovered: list[str]
    """The services with an anomalous metric still out of its band."""


class HandOff(TypedDict):
    """A second fault an incident hands on when it ends (``IncidentState.handed_off``)."""

    step: int
    round: int
    hypothesis: Hypothesis
    owner: str | None
    """The live incident already working that fault; None: the commander opens one."""


class IncidentState(TypedDict):
    incident_id: str
    alerts: Annotated[list[Alert], operator.add]
    opened_step: int
    status: NotRequired[Status]
    severity: NotRequired[str]
    services: NotRequired[list[str]]
    confirm_checks: NotRequired[int]
    confirmed_step: NotRequired[int]
    onset_step: NotRequired[int]
    anomalies: NotRequired[list[dict[str, Any]]]
    hypotheses: NotRequired[list[Hypothesis]]
    candidates: NotRequired[list[Candidate]]
    round: NotRequired[int]
    max_rounds: NotRequired[int]
    votes: Annotated[list[Vote], operator.add]
    decisions: Annotated[list[DecisionRecord], operator.add]
    actions: Annotated[list[ActionRecord], operator.add]
    tried: Annotated[list[str], operator.add]
    timeline: Annotated[list[Entry], operator.add]
    approval_requested: NotRequired[bool]
    pending: NotRequired[str | None]
    """Candidate id chosen by the last decision (to execute, or awaiting a person)."""
    approved_by: NotRequired[str | None]
    verify_until: NotRequired[int]
    recovered: NotRequired[bool]
    duplicate_of: NotRequired[str]
    """The incident already working this one's root cause; this one closes into it."""
    kind: NotRequired[Literal["incident", "triage"]]
    """triage: opened by alerts no service of the estate matches (``orchestrator.triage``);
    absent: an incident of the estate."""
    reason: NotRequired[str | None]
    """Why it ended as it did, in a line for the incident list (noise, escalation, triage,
    a second fault handed on)."""
    reexamined: NotRequired[int]
    """How many times it was looked at again after it was escalated (``Commander``)."""
    verification: NotRequired[Verification]
    """The last round's verification (absent before the first one)."""
    handed_off: NotRequired[HandOff]
    """A second, independent fault found after this incident fixed its own cause: it ended
    resolved, and the commander opens an incident for the second fault (``analyse.diagnose``)."""


class VoteTask(TypedDict):
    """What one agent's vote node receives through ``Send``."""

    agent: str
    incident_id: str
    round: int
    candidates: list[Candidate]
    hypotheses: list[Hypothesis]
    anomalies: list[dict[str, Any]]
    services: list[str]
    onset_step: NotRequired[int | None]
    """The incident's onset: the facts the voters read (load against before it) are those
    remediation proposed from. Absent in a task checkpointed by an older version."""
