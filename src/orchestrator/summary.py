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

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def token(incident_id: str, waiting: dict[str, Any]) -> str:
    """What an answer to this approval request must quote: bound to the action (its hash) and
    to this one request (the incident and the step it was asked at), so an answer cannot be
    replayed, not even when the same action is asked about again later."""
    seed = f"{incident_id}:{waiting['asked_step']}:{waiting['hash']}"
    return hashlib.sha256(seed.encode()).hexdigest()


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
    return IncidentSummary(
        id=incident_id,
        status=status,
        severity=values.get("severity"),
        title=alerts[0]["summary"] if alerts else incident_id,
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
    )
