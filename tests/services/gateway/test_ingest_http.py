"""Alert deliveries over HTTP, to a running gateway on the demo estate (checkout-bad-deploy:
services frontend, checkout, catalog and orders-db).

Every payload file in ``shared/fixtures/payloads`` is posted to its source's route with the
ingest key; what a sender sees (202, how many alerts were taken, their fingerprints) and what
the commander does with them (nothing new for a repeat; a triage incident and ``alert.unrouted``
in the audit trail for a service outside the estate, ``test_triage_http``; an incident for one
inside it) are checked. Bad deliveries
get the right status; SNS subscription handshakes are confirmed through an
``httpx.MockTransport``, the seam the app takes for its outgoing calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatewaykit import PAYLOADS, Running, running_gateway
from orchestrator.live import LiveCommander
from services.aws.port import AwsPort
from snskit import SUBSCRIBE_URL, TOPIC, sns_envelope

PAGERDUTY_OPENAPI = "pagerduty_events_v2_openapiv3.official.json"
"""PagerDuty's OpenAPI document for Events v2: a schema, not a delivery; not posted."""

SNS_ALARM = "cloudwatch:1359c21da2466aaffcea54b4c3f61a0e4382c994e2380a1f7fafc571e418cf00"
GD_FINDING = "guardduty:1ab92989eaf0e742df4a014d5example"

DELIVERIES: dict[str, tuple[str, list[str], int]] = {
    # file: (source route, fingerprints of the alerts taken, how many of them resolved)
    "alertmanager_webhook_v4_firing.DERIVED-from-official-schema.json": (
        "alertmanager", ["alertmanager:c6a9d6e1b3f2a7d4", "alertmanager:0b5c4e8f9a1d2c3e"], 1,
    ),
    "grafana_alerting_webhook.official-docs.json": (
        "grafana", ["grafana:c6eadffa33fcdf37", "grafana:bc97ff14869b13e3"], 0,
    ),
    "aws_cloudwatch_alarm_state_change_eventbridge_single_metric.awsdocs.json": ("cloudwatch", [
        "cloudwatch:72d6ae8d676e1ea1d714f3df0497bd928f4f9049887fb35c7a1c768cd6396b6d",
    ], 0),
    "aws_cloudwatch_alarm_state_change_eventbridge_anomaly_band.awsdocs.json": ("cloudwatch", [
        "cloudwatch:eb68a59b0417e8eaf36035ca1300f21432416320bc6433f39098e54eabca3e3f",
    ], 0),
    "aws_cloudwatch_alarm_lambda_action_single_metric.powertools.json": ("cloudwatch", [
        "cloudwatch:15e9a7fd38276796a22744249c5bbca8fcaa2d5c24cecaea871dfed6a648a9b1",
    ], 0),
    "aws_cloudwatch_alarm_lambda_action_composite.powertools.json": ("cloudwatch", [
        "cloudwatch:21b23d9427978304915cc779dbd2e5accf2c5927163e03b3b938b0172439d063",
    ], 0),
    "aws_cloudwatch_alarm_sns_message_single_metric.aws-lambda-go.json": (
        "cloudwatch", [SNS_ALARM], 0,
    ),
    "aws_cloudwatch_alarm_sns_message_multiple_metrics.aws-lambda-go.json": (
        "cloudwatch", [SNS_ALARM], 0,
    ),
    # A Lambda SNS event whose message is not an alarm: taken, nothing in it, its path skipped.
    "aws_sns_lambda_event_envelope.aws-lambda-go.json": ("cloudwatch", [], 0),
    "aws_guardduty_finding_eventbridge.DERIVED.json": ("guardduty", [GD_FINDING], 0),
    "aws_guardduty_get_findings_cli_example.awscli.json": ("guardduty", [GD_FINDING], 0),
    "pagerduty_events_v2_enqueue_trigger.official-openapi-example.json": (
        "pagerduty", ["pagerduty:srv01/mysql"], 0,
    ),
}  # fmt: skip

JSON = {"Content-Type": "application/json"}
Response = Any
"""What TestClient answers: an httpx2 response under Starlette 1.x, an httpx one before."""


@dataclass
class SnsEndpoint:
    """What answers the gateway's outgoing calls: records each request, answers ``status``."""

    status: int = 200
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, text="<ConfirmSubscriptionResponse/>")


@pytest.fixture(scope="module")
def endpoint() -> SnsEndpoint:
    return SnsEndpoint()


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, aws: AwsPort, endpoint: SnsEndpoint
) -> Iterator[Running]:
    folder = Path(tmp_path_factory.mktemp("ingest"))
    with running_gateway(folder, aws, http_transport=httpx.MockTransport(endpoint)) as running:
        yield running


@pytest.fixture
def sns(endpoint: SnsEndpoint) -> SnsEndpoint:
    endpoint.status = 200
    endpoint.requests.clear()
    return endpoint


def _deliver(
    running: Running, source: str, body: bytes | Any, headers: dict[str, str] | None = None
) -> Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {**running.auth("ingest"), **(JSON if headers is None else headers)}
    return running.client.post(f"/v1/alerts/{source}", content=content, headers=sent)


def _payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


# -- every payload file ----------------------------------------------------------------------------


def test_every_payload_file_has_a_row() -> None:
    files = {path.name for path in PAYLOADS.glob("*.json")}
    assert PAGERDUTY_OPENAPI in files
    assert files - {PAGERDUTY_OPENAPI} == set(DELIVERIES)


@pytest.mark.parametrize("name", sorted(DELIVERIES))
def test_every_payload_file_is_accepted_with_its_fingerprints(running: Running, name: str) -> None:
    source, fingerprints, resolved = DELIVERIES[name]
    response = _deliver(running, source, _payload(name))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["kind"] == "alerts"
    assert answer["source"] == source
    assert answer["accepted"] == len(fingerprints)
    assert answer["fingerprints"] == fingerprints
    assert (answer["firing"], answer["resolved"]) == (len(fingerprints) - resolved, resolved)
    if not fingerprints:
        assert [s["path"] for s in answer["skipped"]] == ["Records[0].Sns.Message"]


def test_repeat_deliveries_outside_the_estate_join_their_triage_incidents(
    running: Running,
) -> None:
    live, trail = running.gateway.live, running.gateway.trail
    live.advance(1)
    answers: dict[str, list[Any]] = {}
    seen: list[tuple[set[str], list[Any]]] = []  # after each round: incidents, unrouted entries
    for _ in range(2):
        since = trail.last_seq()
        for name, (source, _, _) in sorted(DELIVERIES.items()):
            response = _deliver(running, source, _payload(name))
            assert response.status_code == 202
            answers.setdefault(name, []).append(response.json())
        live.advance(0)  # taken, at the same step
        unrouted = [e for e in trail.after(since) if e.kind == "alert.unrouted"]
        seen.append((set(live.commander.incidents), unrouted))

    assert all(first == again for first, again in answers.values())  # the same answer twice
    firing = {
        fingerprint
        for answer, _ in answers.values()
        for fingerprint in answer["fingerprints"][: answer["firing"]]
    }  # every row lists its firing alerts before its resolved ones
    (incidents, first), (again, second) = seen
    assert {e.data["fingerprint"] for e in first} == firing
    assert {e.incident_id for e in first} <= {
        i for i in incidents if live.commander.incidents[i].triage is not None
    }  # each on the triage incident it joined
    assert again == incidents  # a repeat opens nothing new,
    assert second == []  # and within the same step journals nothing twice
    assert "alertmanager:0b5c4e8f9a1d2c3e" not in firing  # a resolve is not an alert to route


# -- alerts about the estate -----------------------------------------------------------------------


def _alert(fingerprint: str, status: str = "firing", service: str = "checkout") -> dict[str, Any]:
    """A generic alert (docs/alerts.md)."""
    return {
        "title": "Checkout error rate above 5%",
        "service": service,
        "severity": "high",
        "status": status,
        "fingerprint": fingerprint,
        "labels": {"team": "payments"},
        "description": "5xx ratio 7.2% over the last 5 minutes",
        "links": [{"label": "dashboard", "url": "https://grafana.example/d/checkout"}],
    }


def _new_incidents(running: Running, before: set[str]) -> list[dict[str, Any]]:
    page = running.client.get("/v1/incidents", headers=running.auth("viewer"))
    assert page.status_code == 200
    return [i for i in page.json()["items"] if i["id"] not in before]


def _alerts(live: LiveCommander, incident_id: str) -> int:
    """How many alerts the incident list says ``incident_id`` has received."""
    summary = live.commander.store.get(incident_id)
    assert summary is not None
    return summary.alerts


def test_a_generic_alert_about_checkout_opens_an_incident_and_its_resolve_is_taken(
    running: Running,
) -> None:
    live = running.gateway.live
    before = set(live.commander.incidents)
    firing = _deliver(running, "generic", _alert("checkout-5xx"))
    assert firing.status_code == 202
    assert firing.json()["fingerprints"] == ["generic:checkout-5xx"]
    live.advance(1)
    # the fleet scan of the shared estate may confirm incidents of its own meanwhile
    [incident] = [i for i in _new_incidents(running, before) if i["title"].startswith("Checkout")]
    assert incident["services"] == ["checkout"]
    assert incident["title"] == "Checkout error rate above 5%"
    assert incident["alerts"] == 1

    resolved = _deliver(running, "generic", _alert("checkout-5xx", "resolved"))
    assert resolved.status_code == 202
    assert (resolved.json()["firing"], resolved.json()["resolved"]) == (0, 1)
    assert resolved.json()["fingerprints"] == ["generic:checkout-5xx"]
    live.advance(1)
    got = running.client.get(f"/v1/incidents/{incident['id']}", headers=running.auth("viewer"))
    assert got.status_code == 200
    # The estate is healthy (paused before its fault), so detection has already closed the
    # lone alert as noise: an ended incident, which its alert's resolve leaves ended.
    assert got.json()["status"] == "noise"
    [listed] = [i for i in _new_incidents(running, before) if i["id"] == incident["id"]]
    assert listed["id"] == incident["id"]
    # The list says why, naming where checkout's metrics stood.
    assert re.fullmatch(
        r"checkout errors \d+\.\d % and latency \d+ ms within their normal band; "
        r"no persistent anomaly: a transient",
        listed["reason"],
    ), listed["reason"]
    assert listed["kind"] == "incident"


def test_a_repeat_of_an_alert_about_the_estate_opens_no_second_incident(running: Running) -> None:
    live, trail = running.gateway.live, running.gateway.trail
    before = set(live.commander.incidents)

    def about_catalog() -> list[dict[str, Any]]:
        # the fleet scan of the shared estate may confirm incidents of its own meanwhile
        return [i for i in _new_incidents(running, before) if "catalog" in i["services"]]

    assert _deliver(running, "generic", _alert("catalog-latency", service="catalog")).is_success
    live.advance(1)
    [incident] = about_catalog()
    alerts, since = _alerts(live, incident["id"]), trail.last_seq()

    for _ in range(2):
        again = _deliver(running, "generic", _alert("catalog-latency", service="catalog"))
        assert again.json()["fingerprints"] == ["generic:catalog-latency"]
    live.advance(1)
    assert [i["id"] for i in about_catalog()] == [incident["id"]]
    assert _alerts(live, incident["id"]) == alerts
    # Both repeats joined the incident; the trail keeps one attachment per alert and step.
    attached = [
        e
        for e in trail.after(since)
        if e.kind == "alert.attached"
        and e.data["alert"]["fingerprint"] == "generic:catalog-latency"
    ]
    assert [e.incident_id for e in attached] == [incident["id"]]
    opened = [e.incident_id for e in trail.after(since) if e.kind == "incident.opened"]
    assert not set(opened) & {i["id"] for i in about_catalog()}


# -- bad deliveries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "body", "headers", "status", "error", "field"),
    [
        ("alertmanager", b'{"version": "4", "alerts": [', JSON, 400, "invalid_alert", "body"),
        ("generic", b"", JSON, 400, "invalid_alert", "body"),
        ("generic", b'{"title": "x"', {}, 400, "invalid_alert", "body"),
        (
            "alertmanager", b"{}", {"Content-Type": "text/plain"}, 415,
            "unsupported_media_type", "headers.content-type",
        ),
        (
            "cloudwatch", b"<alarm/>", {"Content-Type": "application/xml"}, 415,
            "unsupported_media_type", "headers.content-type",
        ),
        ("nagios", b"{}", JSON, 404, "unknown_source", "source"),
    ],
    ids=[
        "invalid json", "empty body", "invalid json, no content type", "text to alertmanager",
        "xml to cloudwatch", "unknown source",
    ],
)  # fmt: skip
def test_a_bad_delivery_is_refused_naming_the_field(
    running: Running,
    source: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
    field: str,
) -> None:
    response = _deliver(running, source, body, headers)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["error"] == error
    assert problem["detail"]
    assert problem["fields"]
    assert problem["fields"][0]["field"] == field


def test_an_invalid_alert_names_every_bad_field(running: Running) -> None:
    alert = {**_alert("bad"), "severity": "apocalyptic", "severty": "high"}
    del alert["title"]
    response = _deliver(running, "generic", alert)
    assert response.status_code == 400
    named = {f["field"] for f in response.json()["fields"]}
    assert named >= {"title", "severity", "severty"}


# -- SNS subscriptions -----------------------------------------------------------------------------


def _sns_headers(kind: str) -> dict[str, str]:
    return {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": kind}


def test_a_subscription_confirmation_is_confirmed_by_fetching_its_url(
    running: Running, sns: SnsEndpoint
) -> None:
    since = running.gateway.trail.last_seq()
    kind = "SubscriptionConfirmation"
    response = _deliver(running, "cloudwatch", sns_envelope(kind), _sns_headers(kind))
    assert response.status_code == 202, response.text
    assert response.json() == {
        "kind": "sns-subscription", "message_type": kind, "topic_arn": TOPIC, "confirmed": True,
    }  # fmt: skip
    assert [(r.method, str(r.url)) for r in sns.requests] == [("GET", SUBSCRIBE_URL)]
    kinds = [e.kind for e in running.gateway.trail.after(since)]
    assert kinds == ["sns.subscribed"]


def test_a_subscription_that_cannot_be_confirmed_is_a_502(
    running: Running, sns: SnsEndpoint
) -> None:
    sns.status = 500
    kind = "SubscriptionConfirmation"
    response = _deliver(running, "guardduty", sns_envelope(kind), _sns_headers(kind))
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "upstream_failed"
    assert TOPIC in response.json()["detail"]
    assert len(sns.requests) == 1


def test_an_unsubscribe_confirmation_is_recorded_not_fetched(
    running: Running, sns: SnsEndpoint
) -> None:
    kind = "UnsubscribeConfirmation"
    response = _deliver(running, "cloudwatch", sns_envelope(kind), _sns_headers(kind))
    assert response.status_code == 202, response.text
    assert response.json()["confirmed"] is False
    assert response.json()["message_type"] == kind
    assert sns.requests == []  # fetching it would subscribe again


def test_a_subscribe_url_that_is_not_sns_is_never_fetched(
    running: Running, sns: SnsEndpoint
) -> None:
    kind = "SubscriptionConfirmation"
    body = sns_envelope(kind, SubscribeURL="http://169.254.169.254/latest/meta-data/")
    response = _deliver(running, "cloudwatch", body, _sns_headers(kind))
    assert response.status_code == 400
    assert response.json()["fields"][0]["field"] == "SubscribeURL"
    assert sns.requests == []


# -- metrics ---------------------------------------------------------------------------------------


def _sample(running: Running, name: str, **labels: str) -> float:
    response = running.client.get("/metrics", headers=running.auth("viewer"))
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_deliveries_are_counted_in_the_metrics(running: Running) -> None:
    name = "alertmanager_webhook_v4_firing.DERIVED-from-official-schema.json"
    accepted = {"source": "alertmanager", "result": "accepted"}
    rejected = {"source": "unknown", "result": "rejected"}
    before = _sample(running, "ic_ingest_deliveries_total", **accepted)
    refused = _sample(running, "ic_ingest_deliveries_total", **rejected)
    firing = _sample(running, "ic_ingest_alerts_total", source="alertmanager", status="firing")

    assert _deliver(running, "alertmanager", _payload(name)).status_code == 202
    assert _deliver(running, "nagios", b"{}").status_code == 404

    assert _sample(running, "ic_ingest_deliveries_total", **accepted) == before + 1
    assert _sample(running, "ic_ingest_deliveries_total", **rejected) == refused + 1
    after = _sample(running, "ic_ingest_alerts_total", source="alertmanager", status="firing")
    assert after == firing + 1


def test_a_full_queue_refuses_the_delivery_whole_with_503_and_retry_after(
    running: Running,
) -> None:
    live = running.gateway.live
    body = PAYLOADS / "alertmanager_webhook_v4_firing.DERIVED-from-official-schema.json"
    live.max_queued = 1  # the delivery carries two alerts
    try:
        refused = _deliver(running, "alertmanager", body.read_bytes())
    finally:
        live.max_queued = 100_000
    assert refused.status_code == 503
    assert refused.json()["error"] == "overloaded"
    assert int(refused.headers["Retry-After"]) >= 1
    assert live.health().queued == 0  # nothing half-taken: the sender retries it all
    assert _deliver(running, "alertmanager", body.read_bytes()).status_code == 202
