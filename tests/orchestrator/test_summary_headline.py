"""An incident's headline: cause → action → result, in words an on-call engineer reads."""

from __future__ import annotations

from typing import Any

from orchestrator.summary import headline

HYPOTHESES = [
    {"fault": "bad-deploy", "service": "checkout", "confidence": 0.9},
    {"fault": "dependency-latency", "service": "orders-db", "confidence": 0.4},
]


def _rollback(status: str) -> dict[str, Any]:
    return {"action": "rollback-deployment", "service": "checkout", "status": status}


def test_a_resolved_incident_says_its_cause_its_fix_and_how_long_it_took() -> None:
    values = {"hypotheses": HYPOTHESES, "actions": [_rollback("succeeded")]}
    got = headline(values, status="resolved", title="x", pending=None, time_to_resolve_s=180.0)
    assert got == "bad deploy on checkout → rolled back the deployment → recovered in 3 min"


def test_a_failed_action_on_another_service_is_named_as_failed() -> None:
    values = {
        "hypotheses": HYPOTHESES,
        "actions": [{"action": "scale-out", "service": "web", "status": "failed"}],
    }
    got = headline(values, status="escalated", title="x", pending=None, time_to_resolve_s=None)
    assert got == "bad deploy on checkout → scale-out failed web → escalated to on-call"


def test_before_a_diagnosis_the_alert_stands_for_the_cause() -> None:
    got = headline({}, status="open", title="HighLatency", pending=None, time_to_resolve_s=None)
    assert got == "HighLatency → investigating"


def test_a_pending_approval_is_the_action() -> None:
    pending = {"candidate": {"action": "failover-database", "service": "sessions-db"}}
    values = {"hypotheses": HYPOTHESES[1:]}
    got = headline(
        values, status="awaiting_approval", title="x", pending=pending, time_to_resolve_s=None
    )
    assert (
        got == "dependency latency on orders-db → failover-database on sessions-db awaits approval"
    )
