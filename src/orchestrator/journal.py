"""What the commander writes to the audit trail as incidents move: every alert, status change,
vote, decision, action, approval request and timeline entry, one record each.

Each record carries an idempotency key made of the incident id and the item's place in its
thread (``inc-1:vote:7``), so writing a thread's whole history again (after a restart, when the
commander re-adopts its threads) stores nothing twice. The audit trail is also the event
stream the gateway serves, so what is journaled here is what a live dashboard sees.

An alert that no service of the estate matches is journaled twice: as any alert of the triage
incident it went to (``incident.opened`` or ``alert.attached``), and as ``alert.unrouted``, the
routing verdict, naming what the alert named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from orchestrator.state import Alert
from services.audit import AuditEntry, AuditRecord

COMMANDER = "commander"


class Trail(Protocol):
    """The part of ``services.audit.AuditTrail`` the commander uses."""

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]: ...

    def for_incident(self, incident_id: str) -> list[AuditEntry]: ...


def opened(incident_id: str, alert: Alert) -> AuditRecord:
    return AuditRecord(
        actor=COMMANDER,
        kind="incident.opened",
        incident_id=incident_id,
        data={"alert": dict(alert), "services": [alert["service"]] if alert["service"] else []},
        key=f"{incident_id}:opened",
    )


def attached(incident_id: str, alert: Alert) -> AuditRecord:
    return AuditRecord(
        actor=COMMANDER,
        kind="alert.attached",
        incident_id=incident_id,
        data={"alert": dict(alert)},
        key=f"{incident_id}:alert:{alert['fingerprint']}:{alert['step']}",
    )


def closed_at_restart(incident_id: str, reason: str, step: int, **data: Any) -> AuditRecord:
    """An incident a starting process closed without working it (``orchestrator.restart``)."""
    return AuditRecord(
        actor=COMMANDER,
        kind="incident.closed",
        incident_id=incident_id,
        data={"reason": reason, "step": step, **data},
        key=f"{incident_id}:closed-at-restart",
    )


def thread(
    incident_id: str,
    values: dict[str, Any],
    waiting: dict[str, Any] | None,
    since: dict[str, int],
) -> list[AuditRecord]:
    """The records of a thread's state from the positions in ``since`` on (which it moves
    forward); keyed by position, so starting again from 0 stores nothing twice."""
    records: list[AuditRecord] = []
    for kind, key in (
        ("timeline", "timeline"), ("vote", "votes"), ("decision", "decisions"),
        ("action", "actions"),
    ):  # fmt: skip
        items = values.get(key, [])
        start = since.get(key, 0)
        since[key] = len(items)
        for index, item in enumerate(items[start:], start=start):
            actor = str(item.get("agent", COMMANDER)) if kind == "vote" else COMMANDER
            records.append(
                AuditRecord(
                    actor=actor,
                    kind=kind,
                    incident_id=incident_id,
                    data=dict(item),
                    key=f"{incident_id}:{kind}:{index}",
                )
            )
    status = values.get("status")
    if status is not None:
        records.append(
            AuditRecord(
                actor=COMMANDER,
                kind="incident.status",
                incident_id=incident_id,
                data={
                    "status": status,
                    "severity": values.get("severity"),
                    "services": values.get("services", []),
                },
                key=f"{incident_id}:status:{status}:{values.get('round', 0)}",
            )
        )
    if waiting is not None and waiting.get("type") == "approval":
        records.append(
            AuditRecord(
                actor=COMMANDER,
                kind="approval.requested",
                incident_id=incident_id,
                data={
                    "candidate": waiting["candidate"],
                    "hash": waiting["hash"],
                    "rule": waiting["rule"],
                    "asked_step": waiting["asked_step"],
                },
                key=f"{incident_id}:approval:{waiting['hash']}:{waiting['asked_step']}",
            )
        )
    return records


def by_person(
    incident_id: str, actor: str, kind: str, data: dict[str, Any], key: str | None = None
) -> AuditRecord:
    """What a person did: acknowledged, resolved, noted, approved, rejected."""
    return AuditRecord(actor=actor, kind=kind, incident_id=incident_id, data=data, key=key)


def acknowledged_by(entries: Sequence[AuditEntry]) -> str | None:
    """Who owns the incident, from its audit entries (survives restarts): the last person it
    was assigned to, else who acknowledged it first."""
    owner = None
    for entry in entries:
        if entry.kind == "incident.acknowledged" and owner is None:
            owner = entry.actor
        elif entry.kind == "incident.assigned":
            owner = str(entry.data["to"])
    return owner


def unrouted(incident_id: str, alert: Alert) -> AuditRecord:
    """An alert that no service of the estate matches, and the triage incident it went to."""
    details = alert["details"]
    return AuditRecord(
        actor=COMMANDER,
        kind="alert.unrouted",
        incident_id=incident_id,
        data={
            "fingerprint": alert["fingerprint"], "source": alert["source"],
            "title": alert["summary"], "service": details.get("service"),
            "resource": details.get("resource"), "step": alert["step"],
        },
        key=f"{incident_id}:unrouted:{alert['fingerprint']}:{alert['step']}",
    )  # fmt: skip


def expired(incident_id: str, waiting: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        actor=COMMANDER,
        kind="approval.expired",
        incident_id=incident_id,
        data={"hash": waiting["hash"], "candidate": waiting["candidate"]["id"]},
        key=f"{incident_id}:approval-expired:{waiting['hash']}:{waiting['asked_step']}",
    )


def attached_fingerprints(entries: Sequence[AuditEntry]) -> set[str]:
    """The alerts attached to the incident after it opened, from its audit entries."""
    return {
        str(entry.data["alert"]["fingerprint"])
        for entry in entries
        if entry.kind == "alert.attached"
    }


def failed(signal_fields: dict[str, Any], error: str) -> AuditRecord:
    """An accepted alert the commander could not ingest (an error of its own, logged): kept
    here whole, so a person sees it and nothing accepted is lost."""
    return AuditRecord(
        actor=COMMANDER,
        kind="alert.failed",
        incident_id=None,
        data={"signal": signal_fields, "error": error},
        key=f"failed:{signal_fields.get('source')}:{signal_fields.get('fingerprint')}:{error}",
    )
