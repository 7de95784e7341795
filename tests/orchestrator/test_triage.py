"""Triage: an alert no service of the estate matches opens or joins a triage incident that a
person sees at once, and nothing is ever done about it on AWS.

The grouping rule is a pure function (``correlation.triage_for``), tested on its own. The rest
runs a real commander: a real LangGraph with a SQLite checkpointer, a real audit trail, real
Prometheus metrics, on an estate with no services and an AWS endpoint nobody answers on, so any
AWS call a triage incident made would fail the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from prometheus_client import CollectorRegistry

from orchestrator import triage
from orchestrator.checkpoints import open_checkpointer
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.correlation import WINDOW_STEPS, Tracked, correlate, triage_for, triage_group
from orchestrator.graph import build_graph
from orchestrator.intake import Signal
from orchestrator.ledger import ActionLedger
from orchestrator.state import Alert
from services.audit import AuditTrail
from services.aws.port import AwsPort
from services.aws.resources import Estate
from services.metrics import CommanderMetrics
from services.settings import AwsMode

# -- the grouping rule -----------------------------------------------------------------------------


def _alert(
    fingerprint: str, step: int, source: str = "alertmanager", named: str | None = "payments"
) -> Alert:
    return triage.alert_of(
        Signal(
            fingerprint=fingerprint, source=source, firing=True, title=fingerprint, service=named
        ),
        step,
    )


def _tracked(incident_id: str, first: Alert, *, status: str = "escalated") -> Tracked:
    return Tracked(
        id=incident_id, services=set(), opened_step=first["step"],
        fingerprints={first["fingerprint"]}, finished=True, status=status,
        triage=triage_group(first),
    )  # fmt: skip


def test_a_burst_from_one_source_about_one_service_is_one_triage_incident() -> None:
    open_ = _tracked("t-1", _alert("a", step=10))

    assert triage_for(_alert("b", step=10 + WINDOW_STEPS), [open_]) is open_
    assert triage_for(_alert("c", step=11 + WINDOW_STEPS), [open_]) is None  # a later burst


def test_another_source_or_another_unknown_service_is_another_triage_incident() -> None:
    open_ = _tracked("t-1", _alert("a", step=10))

    assert triage_for(_alert("b", step=11, source="grafana"), [open_]) is None
    assert triage_for(_alert("c", step=11, named="search"), [open_]) is None
    assert triage_for(_alert("d", step=11, named=None), [open_]) is None
    nameless = _tracked("t-2", _alert("e", step=10, named=None))
    assert triage_for(_alert("f", step=12, named=None), [open_, nameless]) is nameless


def test_a_repeat_joins_the_triage_incident_holding_it_whenever_it_comes() -> None:
    old = _tracked("t-old", _alert("a", step=10))
    new = _tracked("t-new", _alert("b", step=40))

    assert triage_for(_alert("a", step=41), [new, old]) is old
    assert triage_for(_alert("c", step=41), [old, new]) is new


def test_a_resolved_triage_incident_takes_no_more_alerts() -> None:
    done = _tracked("t-1", _alert("a", step=10), status="resolved")

    assert triage_for(_alert("a", step=11), [done]) is None
    assert triage_for(_alert("b", step=11), [done]) is None


def test_triage_incidents_and_incidents_of_the_estate_never_mix() -> None:
    estate_incident = Tracked(id="inc-1", services={"checkout"}, opened_step=10, fingerprints={"a"})
    triaged = _tracked("t-1", _alert("b", step=10))
    routed = Alert(
        fingerprint="b", source="alertmanager", service="checkout", summary="b", step=11,
        fault_hint=None, details={},
    )  # fmt: skip

    assert triage_for(_alert("a", step=11), [estate_incident]) is None  # even a repeat
    assert correlate(routed, [triaged], {}) is None  # even a repeat


# -- a real commander ------------------------------------------------------------------------------

UNANSWERED = "http://127.0.0.1:9"
"""An AWS endpoint nobody answers on: an AWS call fails the test."""


@dataclass
class Harness:
    commander: Commander
    trail: AuditTrail
    registry: CollectorRegistry

    def value(self, name: str, **labels: str) -> float:
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else got

    def values(self, incident_id: str) -> dict[str, Any]:
        return dict(self.commander.state(incident_id))


@contextmanager
def harness(folder: Path, *, step: int = 5, recover: bool = True) -> Iterator[Harness]:
    """A commander on an estate with no services; opened again on the same ``folder``, it
    finds what the last one left (checkpoints, audit trail), as after a restart (without
    ``recover``: as a worker whose store did not list the incident yet)."""
    port = AwsPort(
        mode=AwsMode.ACCOUNT, region="us-east-1", config=Config(), endpoint_url=UNANSWERED
    )
    estate = Estate(
        run_id="run", prefix="ic-test", region="us-east-1", services={}, depends_on={},
        quarantine_security_group_id="sg-0", vpc_id="vpc-0", vpc_cidr="10.0.0.0/16",
    )  # fmt: skip
    ledger = ActionLedger(folder / "ledger.sqlite")
    clock = Clock(start=datetime(2026, 3, 1, tzinfo=UTC), step_s=60, step=step)
    registry = CollectorRegistry()
    ctx = RunContext(
        port=port, estate=estate, catalogue={}, ledger=ledger, clock=clock,
        metrics=CommanderMetrics(registry),
    )  # fmt: skip
    trail = AuditTrail(folder / "audit.sqlite")
    try:
        with open_checkpointer(folder / "checkpoints.sqlite") as saver:
            commander = Commander(build_graph(saver), ctx, trail=trail)
            if recover:
                commander.recover()
            yield Harness(commander, trail, registry)
    finally:
        trail.close()
        ledger.close()


def _signal(
    fingerprint: str,
    severity: str | None = "high",
    *,
    firing: bool = True,
    source: str = "alertmanager",
    service: str | None = "payments",
) -> Signal:
    details: dict[str, Any] = {"labels": {"alertname": "HighLatency", "team": "pay"}}
    if severity is not None:
        details["severity"] = severity
    return Signal(
        fingerprint=fingerprint, source=source, firing=firing, title=f"{fingerprint} is slow",
        service=service, resource="arn:aws:ecs:eu-west-1:1:service/pay/api", details=details,
    )  # fmt: skip


def test_an_unrouted_alert_opens_a_triage_incident_escalated_with_why(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        opened, unrouted = h.commander.ingest_signals([_signal("am:1", "critical")])

        assert unrouted == 1
        (incident_id,) = opened
        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert (summary.kind, summary.status, summary.severity) == ("triage", "escalated", "sev1")
        assert summary.title == "am:1 is slow"
        assert summary.services == ()
        assert summary.reason == (
            "no service of the estate matches this alertmanager alert (service payments, "
            "resource arn:aws:ecs:eu-west-1:1:service/pay/api): escalated to on-call"
        )
        values = h.values(incident_id)
        assert [e["text"] for e in values["timeline"]] == [
            "no service of the estate matches this alert: source alertmanager, service payments,"
            " labels alertname=HighLatency team=pay, resource arn:aws:ecs:eu-west-1:1:service/"
            "pay/api; escalated to on-call; no automatic action"
        ]
        assert values["actions"] == values["votes"] == values["decisions"] == []
        kinds = [(e.kind, e.incident_id) for e in h.trail.for_incident(incident_id)]
        assert ("incident.opened", incident_id) in kinds
        assert ("alert.unrouted", incident_id) in kinds
        assert ("incident.status", incident_id) in kinds
        assert h.value("ic_alerts_unrouted_total", source="alertmanager") == 1
        assert h.value("ic_alerts_received_total", source="alertmanager") == 1
        assert h.value("ic_incidents_opened_total") == 1


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "sev1"), ("high", "sev2"), ("medium", "sev3"), ("low", "sev4"),
     ("info", "sev4"), (None, "sev3")],
)  # fmt: skip
def test_its_severity_is_the_alerts_own(
    tmp_path: Path, severity: str | None, expected: str
) -> None:
    with harness(tmp_path) as h:
        (incident_id,), _ = h.commander.ingest_signals([_signal("am:1", severity)])

        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert summary.severity == expected


def test_alerts_of_its_burst_join_it_and_the_worst_sets_its_severity(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        (incident_id,), _ = h.commander.ingest_signals([_signal("am:1", "low")])
        opened, unrouted = h.commander.ingest_signals(
            [_signal("am:1", "high"), _signal("am:2", "medium")]
        )

        assert (opened, unrouted) == ([], 2)
        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert (summary.alerts, summary.severity) == (2, "sev2")  # the repeat got worse
        h.commander.ingest_signals([_signal("am:3", "critical"), _signal("am:4", "low")])
        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert (summary.alerts, summary.severity) == (4, "sev1")
        alerts = [a["fingerprint"] for a in h.values(incident_id)["alerts"]]
        assert alerts == ["am:1", "am:2", "am:3", "am:4"]  # the repeat is not listed twice
        assert h.value("ic_alerts_unrouted_total", source="alertmanager") == 5
        assert h.value("ic_alerts_deduplicated_total", source="alertmanager") == 4
        assert h.value("ic_incidents_opened_total") == 1

        other, _ = h.commander.ingest_signals([_signal("gf:1", source="grafana", service=None)])
        assert len(other) == 1  # another source: another page
        assert h.value("ic_alerts_unrouted_total", source="grafana") == 1


def test_a_storm_is_counted_whole_and_its_thread_keeps_a_bounded_list(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        count = triage.ALERTS_KEPT + 10
        opened, _ = h.commander.ingest_signals([_signal(f"am:{n}") for n in range(count)])

        (incident_id,) = opened
        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert summary.alerts == count
        assert len(h.values(incident_id)["alerts"]) == triage.ALERTS_KEPT


def test_it_resolves_once_every_alert_of_it_has_resolved(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        (incident_id,), _ = h.commander.ingest_signals([_signal("am:1"), _signal("am:2")])

        h.commander.ingest_signals([_signal("am:1", firing=False)])
        assert h.commander.incidents[incident_id].status == "escalated"
        h.commander.ingest_signals([_signal("am:2", firing=False)])

        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert summary.status == "resolved"
        assert h.values(incident_id)["timeline"][-1]["text"] == (
            "resolved by commander: every alert resolved"
        )
        # Resolved: the same alert firing again is a new page.
        (again,), _ = h.commander.ingest_signals([_signal("am:1")])
        assert again != incident_id


def test_a_person_resolves_it(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        (incident_id,), _ = h.commander.ingest_signals([_signal("am:1")])

        assert h.commander.acknowledge(incident_id, "ana")
        assert h.commander.resolve(incident_id, "ana", "routed payments to its team")
        assert not h.commander.resolve(incident_id, "bo", "again")

        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert (summary.status, summary.acknowledged_by) == ("resolved", "ana")


def test_a_restarted_commander_adopts_it_and_its_burst_still_joins_it(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        (incident_id,), _ = h.commander.ingest_signals([_signal("am:1")])
        h.commander.acknowledge(incident_id, "ana")

    with harness(tmp_path, step=7) as h:
        adopted = h.commander.incidents[incident_id]
        assert adopted.triage == ("alertmanager", "payments")
        assert adopted.acknowledged_by == "ana"
        opened, _ = h.commander.ingest_signals([_signal("am:1"), _signal("am:2", "critical")])

        assert opened == []
        summary = h.commander.store.get(incident_id)
        assert summary is not None
        assert (summary.kind, summary.alerts, summary.severity) == ("triage", 2, "sev1")
        h.commander.ingest_signals([_signal("am:1", firing=False), _signal("am:2", firing=False)])
        assert h.commander.incidents[incident_id].status == "resolved"


def test_an_alert_handled_again_after_a_crash_opens_nothing_twice(tmp_path: Path) -> None:
    """A worker died after writing the triage thread, before its store listed it: the worker
    taking over handles the same delivery again, at the same step, and finds that thread."""
    with harness(tmp_path) as h:
        (first,), _ = h.commander.ingest_signals([_signal("am:1")])

    with harness(tmp_path, recover=False) as h:
        assert first not in h.commander.incidents
        (again,), _ = h.commander.ingest_signals([_signal("am:1")])

        assert again == first
        assert h.commander.incidents[first].triage == ("alertmanager", "payments")
        assert len(h.values(first)["alerts"]) == 1
        opened = [e for e in h.trail.for_incident(first) if e.kind == "incident.opened"]
        assert len(opened) == 1
