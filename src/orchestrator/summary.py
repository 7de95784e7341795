"""One incident at a glance: what the incident list shows and filters on.

The commander rebuilds an incident's summary each time its thread moves, so listing incidents
reads no checkpoint. Times are on the commander's clock (simulated in scenario runs and in the
live demo, wall time on an account).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.context import Clock

FINISHED = frozenset({"resolved", "escalated", "closed", "noise"})


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    id: str
    status: str
    """open, confirmed, mitigating, awaiting_approval, resolved, escalated, closed or noise."""
    severity: str | None
    """sev1 (worst) to sev4, once detection has confirmed the incident."""
    title: str
    services: tuple[str, ...]
    opened_at: datetime
    updated_at: datetime
    alerts: int
    """Distinct alerts (by fingerprint) that opened it or joined it."""
    acknowledged_by: str | None
    pending_approval: dict[str, Any] | None
    """The action waiting for a person: candidate, hash, rule, asked_at, expires_at."""
    time_to_detect_s: float | None
    time_to_resolve_s: float | None
    duplicate_of: str | None = None
    """The incident it closed into, which works the same root cause (``status`` closed)."""
    kind: str = "incident"
    """incident (of the estate), or triage: opened by alerts no service of the estate matches,
    escalated to a person, never acted on (``orchestrator.triage``)."""
    reason: str | None = None
    """Why, in a line: what a noise verdict found in band, what a triage incident's alert
    named; None for the rest."""
    headline: str = ""
    """The incident in one line, cause → action → result (:func:`headline`): "bad deploy on
    checkout → rolled back the deployment → recovered in 3 min"."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def token(incident_id: str, waiting: dict[str, Any]) -> str:
    """What an answer to this approval request must quote: bound to the action (its hash) and
    to this one request (the incident and the step it was asked at), so an answer cannot be
    replayed, not even when the same action is asked about again later."""
    seed = f"{incident_id}:{waiting['asked_step']}:{waiting['hash']}"
    return hashlib.sha256(seed.encode()).hexdigest()


_DONE = {
    "scale-out": "scaled out",
    "scale-in": "scaled in",
    "rollback-deployment": "rolled back the deployment",
    "restart-service": "restarted",
    "reboot-database": "rebooted the database",
    "failover-database": "failed the database over",
    "increase-storage": "increased storage",
    "deactivate-access-key": "deactivated the access key",
    "isolate-instance": "isolated the instance",
    "revoke-ingress-rule": "revoked the ingress rule",
    "notify": "notified",
    "escalate": "escalated",
}


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def headline(
    values: dict[str, Any],
    *,
    status: str,
    title: str,
    pending: dict[str, Any] | None,
    time_to_resolve_s: float | None,
) -> str:
    """Cause → action → result, in words: the top hypothesis (or, before one, the alert's
    title), the last action taken (or the one waiting for approval), and where it stands."""
    hypotheses = values.get("hypotheses") or []
    if hypotheses:
        top = max(hypotheses, key=lambda h: float(h.get("confidence", 0)))
        cause = f"{str(top['fault']).replace('-', ' ')} on {top['service']}"
    else:
        cause = title
    actions = values.get("actions") or []
    if pending is not None:
        candidate = pending["candidate"]
        action = f"{candidate['action']} on {candidate['service']} awaits approval"
    elif actions:
        last = actions[-1]
        done = _DONE.get(last["action"], last["action"])
        action = done if last.get("status") == "succeeded" else f"{last['action']} {last['status']}"
        if last["service"] not in cause:
            action += f" {last['service']}"
    else:
        action = ""
    result = {
        "open": "investigating",
        "confirmed": "diagnosing",
        "mitigating": "verifying",
        "awaiting_approval": "waiting for a person",
        "escalated": "escalated to on-call",
        "closed": "closed into another incident",
        "noise": "noise, no action",
    }.get(status, status.replace("_", " "))
    if status == "resolved":
        result = (
            "recovered"
            if time_to_resolve_s is None
            else f"recovered in {_minutes(time_to_resolve_s)}"
        )
    elif pending is not None:
        result = ""  # the action says it: it awaits approval
    return " → ".join(part for part in (cause, action, result) if part)


def summarise(
    incident_id: str,
    values: dict[str, Any],
    *,
    clock: Clock,
    waiting: dict[str, Any] | None,
    acknowledged_by: str | None,
    approval_ttl_steps: int,
    received: int | None = None,
) -> IncidentSummary:
    """``received`` counts the distinct alerts received for the incident (the thread's state
    holds only the one that opened it); unset, the state's count."""
    alerts = values.get("alerts", [])
    status = str(values.get("status", "open"))
    pending = None
    if waiting is not None and waiting.get("type") == "approval":
        status = "awaiting_approval"
        asked = int(waiting["asked_step"])
        pending = {
            "candidate": waiting["candidate"],
            "hash": token(incident_id, waiting),
            "action_hash": waiting["hash"],
            "rule": waiting["rule"],
            "asked_at": clock.at(asked),
            "expires_at": clock.at(asked + approval_ttl_steps),
        }
    onset, confirmed = values.get("onset_step"), values.get("confirmed_step")
    ttd = None if onset is None or confirmed is None else max(0, confirmed - onset) * clock.step_s
    ttr = None
    if status == "resolved" and onset is not None:
        ttr = float(max(0, clock.step - onset) * clock.step_s)
    services = tuple(values.get("services") or sorted({a["service"] for a in alerts} - {""}))
    title = alerts[0]["summary"] if alerts else incident_id
    return IncidentSummary(
        id=incident_id,
        status=status,
        severity=values.get("severity"),
        title=title,
        services=services,
        opened_at=clock.at(int(values.get("opened_step", 0))),
        updated_at=clock.now,
        alerts=max(len(alerts), received or 0),
        acknowledged_by=acknowledged_by,
        pending_approval=pending,
        time_to_detect_s=None if ttd is None else float(ttd),
        time_to_resolve_s=ttr,
        duplicate_of=values.get("duplicate_of"),
        kind=str(values.get("kind", "incident")),
        reason=values.get("reason"),
        headline=headline(
            values, status=status, title=title, pending=pending, time_to_resolve_s=ttr
        ),
    )
