"""A postmortem draft in Markdown, from what the commander recorded of an incident: summary,
impact, root cause with evidence, the decisions and who made them, the actions and their
verification, and the timeline. Pure; people edit the draft, the record stays in the audit
trail."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.context import Clock
from orchestrator.summary import IncidentSummary
from services.audit import AuditEntry

_PERSON = frozenset(
    {
        "incident.acknowledged",
        "incident.assigned",
        "note",
        "approval.granted",
        "approval.denied",
        "incident.resolved",
    }
)


def render(
    summary: IncidentSummary, values: dict[str, Any], entries: Iterable[AuditEntry], clock: Clock
) -> str:
    lines = [f"# Postmortem: {summary.title}", ""]
    lines += [
        f"- **Incident:** `{summary.id}`" + (" (triage)" if summary.kind == "triage" else ""),
        f"- **Status:** {summary.status}" + (f" ({summary.severity})" if summary.severity else ""),
        f"- **Services:** {', '.join(summary.services) or 'none'}",
        f"- **Opened:** {summary.opened_at.isoformat()}",
        f"- **Time to detect:** {_duration(summary.time_to_detect_s)}",
        f"- **Time to resolve:** {_duration(summary.time_to_resolve_s)}",
        f"- **Alerts:** {summary.alerts}",
        *([f"- **Why:** {summary.reason}"] if summary.reason else []),
        "",
        "## Root cause",
        "",
    ]
    hypotheses = values.get("hypotheses", [])
    if hypotheses:
        for rank, h in enumerate(hypotheses[:3], start=1):
            lines.append(
                f"{rank}. **{h['fault']}** on `{h['service']}` (confidence {h['confidence']:.2f})"
            )
            lines += [f"   - {e}" for e in h.get("evidence", [])]
    else:
        lines.append("No hypothesis was ranked (the incident ended before diagnosis).")
    lines += ["", "## Decisions", ""]
    for d in values.get("decisions", []):
        chosen = f" `{d['candidate']}`" if d.get("candidate") else ""
        lines.append(f"- Round {d['round']}: **{d['outcome']}**{chosen}. Rule: {d['rule']}")
    if not values.get("decisions"):
        lines.append("None.")
    lines += ["", "## Actions", ""]
    for a in values.get("actions", []):
        who = f", approved by {a['approved_by']}" if a.get("approved_by") else ""
        lines.append(
            f"- {clock.at(a['step']).isoformat()} `{a['action']}` on `{a['service']}`: "
            f"{a['status']} ({a['detail']}){who}"
        )
    if not values.get("actions"):
        lines.append("None.")
    people = [e for e in entries if e.kind in _PERSON]
    if people:
        lines += ["", "## People", ""]
        for e in people:
            text = e.data.get("text") or e.data.get("reason") or e.data.get("comment") or ""
            lines.append(
                f"- {e.at.isoformat()} {e.actor}: {e.kind}" + (f": {text}" if text else "")
            )
    lines += ["", "## Timeline", ""]
    for item in values.get("timeline", []):
        lines.append(f"- {clock.at(item['step']).isoformat()} [{item['node']}] {item['text']}")
    lines += [
        "",
        "## Follow-ups",
        "",
        "- [ ] What would have detected this earlier?",
        "- [ ] What would have prevented it?",
        "",
    ]
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
