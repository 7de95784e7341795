"""Triage incidents: alerts that no service of the estate matches, put in front of a person.

An alert that no route maps to a service of the estate (``intake.from_signal`` gives None) was
still set up by someone to page: dropping it would teach its owners that the commander ignores
them. It opens or joins a *triage incident* instead (``correlation.triage_for`` says which):

- escalated to on-call the moment it opens: status ``escalated``, kind ``triage``;
- its severity is the worst of its alerts' own (critical sev1, high sev2, medium sev3, low and
  info sev4), its title the first alert's;
- its timeline says why it is there (what the alert named, that nothing of the estate matches
  it) and that no automatic action will be taken: the estate names no resource of it, so there
  is nothing the commander could act on;
- its thread is a real LangGraph thread, written with ``update_state`` as if the ``escalate``
  node had run (no node runs for it), so every route that reads an incident reads it the same
  way, and a restarted commander adopts it like any other.

A person resolves it (or all its alerts resolving do). Pure: the commander does the I/O.
"""

from __future__ import annotations

from typing import Any

from orchestrator.intake import Signal
from orchestrator.state import Alert, Entry, IncidentState

SEVERITY = {"critical": "sev1", "high": "sev2", "medium": "sev3", "low": "sev4", "info": "sev4"}
"""The gateway's severity scale to the incident's."""
UNRATED = "sev3"
"""For an alert that says nothing of its severity (as the gateway's sources, medium)."""
ALERTS_KEPT = 50
"""Alerts a triage incident's thread keeps, each in its detail and with a timeline entry; later
ones are counted and journaled only, so a storm of them does not grow its checkpoint."""
NODE = "triage"
"""The timeline's actor for what triage wrote."""
_LABELS_SHOWN = 8


def alert_of(signal: Signal, step: int) -> Alert:
    """The alert a signal no service of the estate matches raises: about no service (``''``),
    keeping what it named (``details``: service, resource) for the person who routes it."""
    return Alert(
        fingerprint=signal.fingerprint,
        source=signal.source,
        service="",
        summary=signal.title,
        step=step,
        fault_hint=signal.fault_hint,
        details={**signal.details, "service": signal.service, "resource": signal.resource},
    )


def severity_of(alert: Alert) -> str:
    return SEVERITY.get(str(alert["details"].get("severity", "")).lower(), UNRATED)


def opened(incident_id: str, alert: Alert) -> IncidentState:
    """The thread's state when ``alert`` opens a triage incident (written as node ``escalate``)."""
    return {
        "incident_id": incident_id,
        "kind": "triage",
        "alerts": [alert],
        "opened_step": alert["step"],
        "status": "escalated",
        "severity": severity_of(alert),
        "services": [],
        "reason": reason(alert),
        "votes": [],
        "decisions": [],
        "actions": [],
        "tried": [],
        "timeline": [
            Entry(
                step=alert["step"],
                node=NODE,
                text=f"no service of the estate matches this alert: {named(alert)}; "
                "escalated to on-call; no automatic action",
            )
        ],
    }


def joined(values: dict[str, Any], alert: Alert, *, repeat: bool) -> dict[str, Any]:
    """What ``alert`` joining the triage incident of thread state ``values`` changes in it: a
    worse severity; a new alert (not a ``repeat``) is listed, with a timeline entry, until the
    thread keeps ``ALERTS_KEPT``. Empty: nothing."""
    update: dict[str, Any] = {}
    severity = severity_of(alert)
    if severity < str(values.get("severity", UNRATED)):  # sev1 < sev2 < ...: worse
        update["severity"] = severity
    if not repeat and len(values.get("alerts", [])) < ALERTS_KEPT:
        text = f"alert joined: {alert['summary']} ({named(alert)}); no automatic action"
        update["alerts"] = [alert]
        update["timeline"] = [Entry(step=alert["step"], node=NODE, text=text)]
    return update


def reason(alert: Alert) -> str:
    """The incident list's line on why a triage incident is there."""
    details = alert["details"]
    about = [f"{key} {details[key]}" for key in ("service", "resource") if details.get(key)]
    what = f" ({', '.join(about)})" if about else ""
    return (
        f"no service of the estate matches this {alert['source']} alert{what}: escalated to on-call"
    )


def named(alert: Alert) -> str:
    """What the alert named, for a person to route it: source, service, labels, resource."""
    details = alert["details"]
    parts = [f"source {alert['source']}"]
    if details.get("service"):
        parts.append(f"service {details['service']}")
    labels = sorted((details.get("labels") or {}).items())
    if labels:
        shown = " ".join(f"{k}={v}" for k, v in labels[:_LABELS_SHOWN])
        more = f" (+{len(labels) - _LABELS_SHOWN} more)" if len(labels) > _LABELS_SHOWN else ""
        parts.append(f"labels {shown}{more}")
    parts.append(f"resource {details['resource']}" if details.get("resource") else "no resource")
    return ", ".join(parts)
