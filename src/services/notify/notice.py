"""What people are told, as data: a ``Notice`` made from an audit entry, and the facts of its
incident (title, severity, services) gathered from the incident's entries. Pure functions.

Four entries make notices, all written by the commander already (``orchestrator.journal``):

================================  ==================  ==========================================
audit entry                       notice              paging
================================  ==================  ==========================================
``incident.status`` escalated     ``escalated``       trigger
``approval.requested``            ``approval_needed`` trigger (and Approve / Reject in Slack)
``incident.acknowledged``         ``acknowledged``    acknowledge
``incident.resolved``, or         ``resolved``        resolve
``incident.status`` resolved,
closed or noise
================================  ==================  ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.summary import token
from services.audit import AuditEntry

Event = Literal["escalated", "approval_needed", "acknowledged", "resolved"]
TRIGGERS: frozenset[Event] = frozenset({"escalated", "approval_needed"})
"""Events that announce an incident; the others follow up where it was announced."""
_ENDED = frozenset({"resolved", "closed", "noise"})
_SEVERITIES = ("sev1", "sev2", "sev3", "sev4")


@dataclass(frozen=True, slots=True)
class Facts:
    """An incident as its audit entries tell it."""

    title: str
    severity: str | None
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Approval:
    """The action waiting for a person, and the token an answer must quote."""

    candidate: str
    action: str
    service: str
    rule: str
    token: str


@dataclass(frozen=True, slots=True)
class Notice:
    event: Event
    incident_id: str
    seq: int
    """The audit entry it was made from."""
    facts: Facts
    by: str | None = None
    """Who acknowledged or resolved it."""
    approval: Approval | None = None
    link: str | None = None

    @property
    def key(self) -> str:
        """Names what is said, so it is said once per target: an incident escalates once and
        ends once; each approval request is its own."""
        if self.approval is not None:
            return f"{self.incident_id}:approval:{self.approval.token[:16]}"
        return f"{self.incident_id}:{self.event}"

    @property
    def headline(self) -> str:
        """One line: what happened to which incident."""
        sev = f"[{self.facts.severity}] " if self.facts.severity else ""
        what = {
            "escalated": "escalated to on-call",
            "approval_needed": "needs approval",
            "acknowledged": f"acknowledged by {self.by}",
            "resolved": f"resolved by {self.by}",
        }[self.event]
        return f"{sev}{self.incident_id} {what}: {self.facts.title}"


def relevant(entry: AuditEntry) -> bool:
    """Whether ``entry`` makes a notice (cheap: read the incident's facts only for these)."""
    if entry.incident_id is None:
        return False
    if entry.kind == "incident.status":
        return entry.data.get("status") in _ENDED | {"escalated"}
    return entry.kind in {"approval.requested", "incident.acknowledged", "incident.resolved"}


def facts(entries: Sequence[AuditEntry]) -> Facts:
    """Title, latest severity and services of an incident from its entries."""
    title, severity, services = "", None, ()
    for entry in entries:
        if entry.kind == "incident.opened" and not title:
            title = str(entry.data.get("alert", {}).get("summary", ""))
            services = tuple(entry.data.get("services", ()))
        elif entry.kind == "incident.status":
            severity = entry.data.get("severity") or severity
            services = tuple(entry.data.get("services") or services)
    return Facts(title=title or "(no title)", severity=severity, services=services)


def notice_of(entry: AuditEntry, known: Facts, link_base: str | None = None) -> Notice | None:
    """The notice ``entry`` makes, if any (``relevant`` says which do)."""
    if not relevant(entry):
        return None
    assert entry.incident_id is not None
    incident = entry.incident_id
    link = f"{link_base.rstrip('/')}/v1/incidents/{incident}" if link_base else None
    make: dict[str, Any] = {"incident_id": incident, "seq": entry.seq, "facts": known, "link": link}
    if entry.kind == "approval.requested":
        data = entry.data
        candidate = data.get("candidate") or {}
        waiting = {"asked_step": data["asked_step"], "hash": data["hash"]}
        approval = Approval(
            candidate=str(candidate.get("id", "")),
            action=str(candidate.get("action", "")),
            service=str(candidate.get("service", "")),
            rule=str(data.get("rule", "")),
            token=token(incident, waiting),
        )
        return Notice(event="approval_needed", approval=approval, **make)
    if entry.kind == "incident.acknowledged":
        return Notice(event="acknowledged", by=entry.actor, **make)
    if entry.kind == "incident.resolved":
        return Notice(event="resolved", by=entry.actor, **make)
    if entry.data.get("status") == "escalated":
        return Notice(event="escalated", **make)
    return Notice(event="resolved", by=f"the commander ({entry.data['status']})", **make)


def at_least(severity: str | None, threshold: str) -> bool:
    """Whether ``severity`` is ``threshold`` or worse (sev1 is the worst). An unknown severity
    counts as bad enough: an incident not yet measured is not proven minor."""
    if severity not in _SEVERITIES:
        return True
    return _SEVERITIES.index(severity) <= _SEVERITIES.index(threshold)
