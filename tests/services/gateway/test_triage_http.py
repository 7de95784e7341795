"""Alerts about nothing in the estate, over HTTP: every real payload file in
``shared/fixtures/payloads`` is delivered to the demo gateway (checkout-bad-deploy: frontend,
checkout, catalog and orders-db; none of the payloads' services). None is dropped in silence:
each firing alert is on a triage incident in the incident list, with its detail and timeline
saying why, escalated to a person; ``/metrics`` counts them by source; no action is ever taken
for one, however long the estate runs; and they end when their alerts resolve or a person
resolves them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatewaykit import PAYLOADS, Running, running_gateway
from services.aws.port import AwsPort

PAGERDUTY_OPENAPI = "pagerduty_events_v2_openapiv3.official.json"
"""PagerDuty's OpenAPI document for Events v2: a schema, not a delivery; not posted."""
SNS_TEST_MESSAGE = "aws_sns_lambda_event_envelope.aws-lambda-go.json"
"""An SNS envelope around "Hello from SNS!": no alert in it, and the answer says so."""
ALERTMANAGER = "alertmanager_webhook_v4_firing.DERIVED-from-official-schema.json"
SOURCES = {
    "alertmanager": "alertmanager", "grafana": "grafana", "aws_cloudwatch": "cloudwatch",
    "aws_sns": "cloudwatch", "aws_guardduty": "guardduty", "pagerduty": "pagerduty",
}  # fmt: skip
"""A payload file's source route, by the start of its name."""


def _source(name: str) -> str:
    return next(source for prefix, source in SOURCES.items() if name.startswith(prefix))


def _payloads() -> list[str]:
    return sorted(p.name for p in PAYLOADS.glob("*.json") if p.name != PAGERDUTY_OPENAPI)


@pytest.fixture
def running(tmp_path: Path, aws: AwsPort) -> Iterator[Running]:
    with running_gateway(tmp_path, aws) as running:
        yield running


def _deliver(running: Running, source: str, body: bytes) -> dict[str, Any]:
    headers = {**running.auth("ingest"), "Content-Type": "application/json"}
    response = running.client.post(f"/v1/alerts/{source}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _get(running: Running, path: str) -> Any:
    response = running.client.get(path, headers=running.auth("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def _triage(running: Running) -> list[dict[str, Any]]:
    items = _get(running, "/v1/incidents?limit=200")["items"]
    return [i for i in items if i["kind"] == "triage"]


def _metric(running: Running, name: str) -> dict[str, float]:
    text = running.client.get("/metrics", headers=running.auth("viewer")).text
    return {
        sample.labels["source"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_every_payload_outside_the_estate_lands_on_a_triage_incident(running: Running) -> None:
    firing: dict[str, set[str]] = {}
    delivered: Counter[str] = Counter()  # firing alerts delivered, by source (repeats too)
    names = _payloads()
    assert len(names) == 12
    for name in names:
        answer = _deliver(running, _source(name), (PAYLOADS / name).read_bytes())
        if name == SNS_TEST_MESSAGE:  # not silent either: the answer says why nothing came
            assert answer["accepted"] == 0
            assert [s["path"] for s in answer["skipped"]] == ["Records[0].Sns.Message"]
            continue
        assert answer["firing"] >= 1, name
        firing.setdefault(answer["source"], set()).update(
            answer["fingerprints"][: answer["firing"]]  # firing ones are listed first
        )
        delivered[answer["source"]] += answer["firing"]
    running.gateway.live.advance(0)  # the commander takes what was queued

    incidents = _triage(running)
    # One page per source here (each source's alerts name no service, or one): a burst from one
    # monitoring system is one triage incident, whatever the number of its alerts.
    by_source: dict[str, dict[str, Any]] = {}
    for incident in incidents:
        assert (incident["status"], incident["services"]) == ("escalated", [])
        assert incident["severity"] in {"sev1", "sev2", "sev3", "sev4"}
        assert incident["reason"].startswith("no service of the estate matches this ")
        detail = _get(running, f"/v1/incidents/{incident['id']}")
        alerts = {a["fingerprint"] for a in detail["alert_list"]}
        (source,) = {a["source"] for a in detail["alert_list"]}
        assert alerts == firing[source]
        assert incident["alerts"] == len(alerts)
        assert detail["title"] == detail["alert_list"][0]["summary"]
        timeline = _get(running, f"/v1/incidents/{incident['id']}/timeline")
        assert timeline[0]["text"].startswith(
            f"no service of the estate matches this alert: source {source}"
        )
        assert all(e["text"].endswith("no automatic action") for e in timeline)
        by_source[source] = incident
    assert set(by_source) == set(firing) == set(SOURCES.values())
    assert len(incidents) == len(by_source)
    assert {s: i["alerts"] for s, i in by_source.items()} == {
        "alertmanager": 1, "grafana": 2, "cloudwatch": 5, "guardduty": 1, "pagerduty": 1,
    }  # fmt: skip
    assert by_source["pagerduty"]["severity"] == "sev1"  # PagerDuty's own "critical"
    assert by_source["grafana"]["severity"] == "sev3"

    assert _metric(running, "ic_alerts_unrouted_total") == delivered
    received = _metric(running, "ic_alerts_received_total")
    assert all(received[source] >= n for source, n in delivered.items())

    # The estate runs on (its bad deploy is detected, diagnosed and acted on): nothing is ever
    # done about a triage incident, and each still waits for its person.
    running.gateway.live.advance(25)
    acted = [i for i in _get(running, "/v1/incidents?limit=200")["items"] if i["kind"] != "triage"]
    assert any(_get(running, f"/v1/incidents/{i['id']}/actions") for i in acted)
    for incident in _triage(running):
        assert _get(running, f"/v1/incidents/{incident['id']}/actions") == []
        assert _get(running, f"/v1/incidents/{incident['id']}/votes")["decisions"] == []
        assert incident["status"] == "escalated"
    audit = _get(running, "/v1/audit?limit=1000")["items"]
    unrouted = {
        e["data"]["fingerprint"]: e["incident_id"] for e in audit if e["kind"] == "alert.unrouted"
    }
    assert set(unrouted) == set().union(*firing.values())
    assert set(unrouted.values()) == {i["id"] for i in incidents}


def _alertmanager(status: str) -> bytes:
    """The payload file's firing alert alone, with ``status``."""
    document = json.loads((PAYLOADS / ALERTMANAGER).read_bytes())
    document["alerts"] = [document["alerts"][0]]
    document["status"] = document["alerts"][0]["status"] = status
    if status == "resolved":
        document["alerts"][0]["endsAt"] = "2024-05-01T10:30:00Z"
    return json.dumps(document).encode()


def test_a_triage_incident_resolves_when_its_alert_does(running: Running) -> None:
    _deliver(running, "alertmanager", _alertmanager("firing"))
    running.gateway.live.advance(0)
    (incident,) = _triage(running)
    assert incident["status"] == "escalated"

    _deliver(running, "alertmanager", _alertmanager("resolved"))
    running.gateway.live.advance(0)

    (incident,) = _triage(running)
    assert incident["status"] == "resolved"
    timeline = _get(running, f"/v1/incidents/{incident['id']}/timeline")
    assert timeline[-1]["text"] == "resolved by commander: every alert resolved"


def test_a_person_acknowledges_and_resolves_a_triage_incident(running: Running) -> None:
    _deliver(
        running,
        "pagerduty",
        (
            PAYLOADS / "pagerduty_events_v2_enqueue_trigger.official-openapi-example.json"
        ).read_bytes(),
    )
    running.gateway.live.advance(0)
    (incident,) = _triage(running)
    path = f"/v1/incidents/{incident['id']}"

    ack = running.client.post(f"{path}/ack", headers=running.auth("responder"))
    assert ack.json()["changed"] is True
    resolved = running.client.post(
        f"{path}/resolve", json={"reason": "mysql belongs to the data team: routed there"},
        headers=running.auth("responder"),
    )  # fmt: skip
    assert resolved.json() == {"incident_id": incident["id"], "changed": True, "status": "resolved"}

    got = _get(running, path)
    assert (got["status"], got["acknowledged_by"]) == ("resolved", "responder")
    draft = running.client.get(f"{path}/postmortem", headers=running.auth("viewer")).text
    assert f"`{incident['id']}` (triage)" in draft
    assert f"- **Why:** {incident['reason']}" in draft
    assert "mysql belongs to the data team" in draft
