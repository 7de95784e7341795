"""The notifier over a real audit trail (SQLite), fed the records the commander's journal
writes: who is told what, follow-ups only where the incident was announced, and a cursor
that survives a restart without losing or repeating anything."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator import journal
from orchestrator.state import Alert
from receiverkit import Receiver, Reply, receiving
from services.audit import AuditTrail
from services.aws.resources import ServiceProfile
from services.notify import Courier, Cursor, Notifier
from services.notify.pagerduty import PagerDuty
from services.notify.slack import SlackWebhook

INCIDENT = "inc-00000000aa"
ALERT = Alert(
    fingerprint="cw:checkout-5xx", source="cloudwatch", service="checkout",
    summary="checkout 5xx above SLO", step=3, fault_hint=None, details={},
)  # fmt: skip
CATALOGUE = {
    "checkout": ServiceProfile(
        name="checkout", kind="ecs-service", tier="1", protected=False, baseline_capacity=2,
        max_capacity=4, unit_cost_per_hour=0.1, downtime_cost_per_min=1.0,
        owners=("team-payments",), escalation="pagerduty:payments-oncall",
    )
}  # fmt: skip


@pytest.fixture
def pd() -> Iterator[Receiver]:
    with receiving(Reply(202)) as receiver:
        yield receiver


@pytest.fixture
def chat() -> Iterator[Receiver]:
    with receiving(Reply(200)) as receiver:
        yield receiver


def _notifier(trail: AuditTrail, tmp_path: Path, pd: Receiver, chat: Receiver) -> Notifier:
    client = httpx.Client(timeout=2.0)
    channels = [
        PagerDuty(client, url=pd.url, routing_keys={"payments-oncall": "RK"}, default_key=None),
        SlackWebhook(client, url=chat.url, rate_limit="100/second"),
    ]
    return Notifier(
        trail, channels, Courier(max_attempts=1), cursor=Cursor(tmp_path / "cursor.json"),
        catalogue=lambda: CATALOGUE, link_base="https://ic.example",
    )  # fmt: skip


def _status(status: str, severity: str = "sev1", round_: int = 1) -> Any:
    values = {"status": status, "severity": severity, "services": ["checkout"], "round": round_}
    return journal.thread(INCIDENT, values, None, {})


def test_escalation_pages_the_owner_and_the_end_resolves_where_it_was_announced(
    tmp_path: Path, pd: Receiver, chat: Receiver
) -> None:
    with AuditTrail(tmp_path / "audit.sqlite") as trail:
        notifier = _notifier(trail, tmp_path, pd, chat)
        trail.append([journal.opened(INCIDENT, ALERT), *_status("confirmed")])
        notifier.catch_up()
        assert pd.received == []
        assert chat.received == []

        trail.append(_status("escalated"))
        trail.append([journal.by_person(INCIDENT, "alice", "incident.acknowledged", {})])
        trail.append([journal.by_person(INCIDENT, "alice", "incident.resolved", {"reason": "x"})])
        trail.append(_status("resolved", round_=2))  # the same end, said again by the thread
        notifier.catch_up()
        kinds = [(e.kind, e.data["channel"], e.data["event"])
                 for e in trail.for_incident(INCIDENT) if e.kind.startswith("notify.")]  # fmt: skip

    assert [(b["event_action"], b["routing_key"], b["dedup_key"]) for b in pd.bodies()] == [
        ("trigger", "RK", INCIDENT), ("acknowledge", "RK", INCIDENT),
        ("resolve", "RK", INCIDENT),
    ]  # fmt: skip
    assert pd.bodies()[0]["links"][0]["href"] == f"https://ic.example/v1/incidents/{INCIDENT}"
    texts = [b["text"] for b in chat.bodies()]
    assert texts == [
        f"[sev1] {INCIDENT} escalated to on-call: checkout 5xx above SLO",
        f"[sev1] {INCIDENT} acknowledged by alice: checkout 5xx above SLO",
        f"[sev1] {INCIDENT} resolved by alice: checkout 5xx above SLO",
    ]
    assert kinds.count(("notify.sent", "pagerduty", "resolved")) == 1


def test_an_incident_never_announced_gets_no_follow_ups(
    tmp_path: Path, pd: Receiver, chat: Receiver
) -> None:
    with AuditTrail(tmp_path / "audit.sqlite") as trail:
        notifier = _notifier(trail, tmp_path, pd, chat)
        trail.append([journal.opened(INCIDENT, ALERT), *_status("mitigating")])
        trail.append([journal.by_person(INCIDENT, "bob", "incident.acknowledged", {})])
        trail.append(_status("resolved"))
        notifier.catch_up()
    assert pd.received == []
    assert chat.received == []


def test_a_restart_goes_on_from_the_cursor_and_sends_nothing_twice(
    tmp_path: Path, pd: Receiver, chat: Receiver
) -> None:
    with AuditTrail(tmp_path / "audit.sqlite") as trail:
        trail.append([journal.opened("inc-before", ALERT)])  # before paging was switched on
        first = _notifier(trail, tmp_path, pd, chat)
        trail.append([journal.opened(INCIDENT, ALERT), *_status("escalated")])
        first.catch_up()
        assert len(pd.received) == 1

        trail.append([journal.by_person(INCIDENT, "alice", "incident.acknowledged", {})])
        again = _notifier(trail, tmp_path, pd, chat)  # the process restarted
        assert again.seq == first.seq
        again.catch_up()
        # Handled again from scratch (a lost cursor file): delivery keys stop repeats.
        (tmp_path / "cursor.json").write_text('{"seq": 0}')
        _notifier(trail, tmp_path, pd, chat).catch_up()

    assert [b["event_action"] for b in pd.bodies()] == ["trigger", "acknowledge"]
    assert len(chat.received) == 2


def test_a_notifier_thread_follows_appends(tmp_path: Path, pd: Receiver, chat: Receiver) -> None:
    with AuditTrail(tmp_path / "audit.sqlite") as trail:
        notifier = _notifier(trail, tmp_path, pd, chat)
        unsubscribe = trail.subscribe(notifier.poke)
        notifier.start()
        try:
            trail.append([journal.opened(INCIDENT, ALERT), *_status("escalated")])
            for _ in range(500):
                if pd.received:
                    break
                time.sleep(0.01)
        finally:
            notifier.stop()
            unsubscribe()
    assert [b["event_action"] for b in pd.bodies()] == ["trigger"]
