"""Alert ingest: every delivery format the gateway takes, read from the payload files in
``shared/fixtures/payloads`` (official examples of each source), into the one alert model.

What a user would notice: which alerts come out of a delivery and with what status, severity,
service and title; that a repeat delivery and the resolve of an alert carry its fingerprint
(so the commander deduplicates them); and that a bad delivery gets an error naming the field,
never a crash.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import skip_or_fail
from services.errors import ContentTypeError, IngestError, UnknownSourceError
from services.gateway.alerts import (
    Alert,
    AlertBatch,
    AlertSource,
    IngestOptions,
    IngestResult,
    Severity,
    SnsSubscription,
)
from services.gateway.ingest import parse
from services.gateway.sources import generic
from snskit import SUBSCRIBE_URL, sns_envelope

FIXTURE_FOLDERS = ("shared/fixtures/payloads", "tests/fixtures/payloads")
"""Where the payload files live, relative to this file's ancestors (the repo, or its workspace)."""
PAGERDUTY_OPENAPI = "pagerduty_events_v2_openapiv3.official.json"
JSON = {"Content-Type": "application/json"}


@cache
def _fixtures() -> Path:
    for folder in Path(__file__).resolve().parents:
        for relative in FIXTURE_FOLDERS:
            if (folder / relative).is_dir():
                return folder / relative
    skip_or_fail(f"payload fixtures not found in {' or '.join(FIXTURE_FOLDERS)} above the tests")


def _load(name: str) -> Any:
    return json.loads((_fixtures() / name).read_text(encoding="utf-8"))


def _parse(source: str, document: Any, headers: dict[str, str] | None = None) -> IngestResult:
    return parse(source, json.dumps(document).encode(), JSON if headers is None else headers)


def _alerts(source: str, document: Any, **options: Any) -> tuple[Alert, ...]:
    result = parse(source, json.dumps(document).encode(), JSON, options=IngestOptions(**options))
    assert isinstance(result, AlertBatch)
    return result.alerts


def _error(source: str, body: bytes | Any, headers: dict[str, str] | None = None) -> IngestError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(IngestError) as caught:
        parse(source, raw, JSON if headers is None else headers)
    return caught.value


# -- every fixture file, to the values it must give ------------------------------------------------

AM_TITLE = "CPU above 90% for 5m"
GD_TITLE = "Unusual user permission reconnaissance activity by testuser."
GD_ID = "guardduty:1ab92989eaf0e742df4a014d5example"
SNS_ALARM = (
    "cloudwatch:1359c21da2466aaffcea54b4c3f61a0e4382c994e2380a1f7fafc571e418cf00",
    "firing", "high", None, "EXAMPLE", "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE",
)  # fmt: skip

EXPECTED: dict[str, tuple[str, list[tuple[str, str, str, str | None, str, str | None]]]] = {
    # file: (source, [(fingerprint, status, severity, service, title, resource), ...])
    "alertmanager_webhook_v4_firing.DERIVED-from-official-schema.json": ("alertmanager", [
        ("alertmanager:c6a9d6e1b3f2a7d4", "firing", "critical", "node", AM_TITLE, "web-01:9100"),
        ("alertmanager:0b5c4e8f9a1d2c3e", "resolved", "critical", "node", AM_TITLE, "web-02:9100"),
    ]),
    "grafana_alerting_webhook.official-docs.json": ("grafana", [
        ("grafana:c6eadffa33fcdf37", "firing", "medium", None,
         "This alert was triggered for zone us-1", None),
        ("grafana:bc97ff14869b13e3", "firing", "medium", None,
         "This alert was triggered for zone eu-1", None),
    ]),
    "aws_cloudwatch_alarm_state_change_eventbridge_single_metric.awsdocs.json": ("cloudwatch", [
        ("cloudwatch:72d6ae8d676e1ea1d714f3df0497bd928f4f9049887fb35c7a1c768cd6396b6d",
         "firing", "high", None, "ServerCpuTooHigh",
         "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"),
    ]),
    "aws_cloudwatch_alarm_state_change_eventbridge_anomaly_band.awsdocs.json": ("cloudwatch", [
        ("cloudwatch:eb68a59b0417e8eaf36035ca1300f21432416320bc6433f39098e54eabca3e3f",
         "firing", "high", None, "EC2 CPU Utilization Anomaly",
         "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EC2 CPU Utilization Anomaly"),
    ]),
    "aws_cloudwatch_alarm_lambda_action_single_metric.powertools.json": ("cloudwatch", [
        ("cloudwatch:15e9a7fd38276796a22744249c5bbca8fcaa2d5c24cecaea871dfed6a648a9b1",
         "firing", "high", None, "Test alert",
         "arn:aws:cloudwatch:eu-west-1:912397435824:alarm:test_alarm"),
    ]),
    "aws_cloudwatch_alarm_lambda_action_composite.powertools.json": ("cloudwatch", [
        ("cloudwatch:21b23d9427978304915cc779dbd2e5accf2c5927163e03b3b938b0172439d063",
         "firing", "high", None, "CompositeDemo.Main",
         "arn:aws:cloudwatch:us-east-1:111122223333:alarm:SuppressionDemo.Main"),
    ]),
    "aws_cloudwatch_alarm_sns_message_single_metric.aws-lambda-go.json": ("cloudwatch", [
        SNS_ALARM,
    ]),
    "aws_cloudwatch_alarm_sns_message_multiple_metrics.aws-lambda-go.json": ("cloudwatch", [
        SNS_ALARM,
    ]),
    "aws_sns_lambda_event_envelope.aws-lambda-go.json": ("cloudwatch", []),
    "aws_guardduty_finding_eventbridge.DERIVED.json": ("guardduty", [
        (GD_ID, "firing", "medium", None, GD_TITLE, "ASIASZ4SI7REEEXAMPLE"),
    ]),
    "aws_guardduty_get_findings_cli_example.awscli.json": ("guardduty", [
        (GD_ID, "firing", "medium", None, GD_TITLE, "ASIASZ4SI7REEEXAMPLE"),
    ]),
    "pagerduty_events_v2_enqueue_trigger.official-openapi-example.json": ("pagerduty", [
        ("pagerduty:srv01/mysql", "firing", "critical", "mysql",
         "DISK at 99% on machine prod-datapipe03.example.com", "prod-datapipe03.example.com"),
    ]),
}  # fmt: skip


def test_every_payload_file_has_expectations() -> None:
    files = {p.name for p in _fixtures().glob("*.json")} - {PAGERDUTY_OPENAPI}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payload_file_normalises_to_the_expected_alerts(name: str) -> None:
    source, expected = EXPECTED[name]
    alerts = _alerts(source, _load(name))
    got = [
        (a.fingerprint, a.status.value, a.severity.value, a.service, a.title, a.resource)
        for a in alerts
    ]
    assert got == expected
    assert all(a.source == source for a in alerts)
    assert all(a.starts_at is None or a.starts_at.tzinfo == UTC for a in alerts)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_repeat_delivery_gives_the_same_alerts(name: str) -> None:
    source, _ = EXPECTED[name]
    body = (_fixtures() / name).read_bytes()
    assert parse(source, body, JSON) == parse(source, body, JSON)


def test_alertmanager_details() -> None:
    firing, resolved = _alerts("alertmanager", _load(next(iter(EXPECTED))))
    assert firing.description == "instance web-01:9100 CPU 97.3%"
    assert firing.starts_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert firing.ends_at is None  # Go's zero time means "not set"
    assert resolved.ends_at == datetime(2024, 5, 1, 9, 58, tzinfo=UTC)
    assert firing.labels["alertname"] == "HighCPU"
    assert [link.label for link in firing.links] == ["generator"]
    assert firing.raw["fingerprint"] == "c6a9d6e1b3f2a7d4"  # the alert's own object


def _am_alert(status: str, fingerprint: str | None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": "HighCPU", "instance": "web-01:9100", "severity": "warning"},
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": "2024-05-01T10:20:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
    }
    if fingerprint is not None:
        alert["fingerprint"] = fingerprint
    return {"version": "4", "status": status, "alerts": [alert]}


@pytest.mark.parametrize("own", ["c6a9d6e1b3f2a7d4", None])
def test_a_resolved_alertmanager_alert_matches_its_firing_fingerprint(own: str | None) -> None:
    (firing,) = _alerts("alertmanager", _am_alert("firing", own))
    (resolved,) = _alerts("alertmanager", _am_alert("resolved", own))
    assert (firing.status, resolved.status) == ("firing", "resolved")
    assert firing.fingerprint == resolved.fingerprint
    assert firing.fingerprint.startswith("alertmanager:")


@pytest.mark.parametrize(
    ("label", "severity"),
    [("critical", "critical"), ("page", "critical"), ("error", "high"), ("warning", "medium"),
     ("P4", "low"), ("info", "info"), ("bogus", "medium"), (None, "medium")],
)  # fmt: skip
def test_alertmanager_severity_labels_map_to_the_commander_scale(
    label: str | None, severity: str
) -> None:
    document = _am_alert("firing", "x")
    labels = document["alerts"][0]["labels"]
    labels.pop("severity")
    if label is not None:
        labels["severity"] = label
    assert _alerts("alertmanager", document)[0].severity == severity


def test_grafana_times_are_utc_and_dashboard_links_kept() -> None:
    document = _load("grafana_alerting_webhook.official-docs.json")
    document["alerts"][0]["dashboardURL"] = "https://grafana.example/d/mem"
    document["alerts"][0]["panelURL"] = "javascript:alert(1)"  # never kept as a link
    first, _ = _alerts("grafana", document)
    assert first.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert [(link.label, link.url) for link in first.links] == [
        ("generator", "https://play.grafana.org/alerting/1afz29v7z/edit"),
        ("dashboard", "https://grafana.example/d/mem"),
        ("silence", document["alerts"][0]["silenceURL"]),
        ("runbook", "https://myrunbook.com/runbook/1234"),
    ]


# -- CloudWatch ------------------------------------------------------------------------------------

CW_EVENT = "aws_cloudwatch_alarm_state_change_eventbridge_single_metric.awsdocs.json"
CW_SNS = "aws_cloudwatch_alarm_sns_message_single_metric.aws-lambda-go.json"


def _recovered(event: dict[str, Any]) -> dict[str, Any]:
    """The alarm's next event: back to OK."""
    detail = event["detail"]
    detail["previousState"], detail["state"] = detail["state"], dict(detail["previousState"])
    detail["state"]["timestamp"] = "2019-10-02T17:20:00.000+0000"
    return event


def test_a_cloudwatch_alarm_back_to_ok_resolves_its_firing_alert() -> None:
    (firing,) = _alerts("cloudwatch", _load(CW_EVENT))
    (resolved,) = _alerts("cloudwatch", _recovered(_load(CW_EVENT)))
    assert resolved.status == "resolved"
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.starts_at == firing.starts_at == datetime(2019, 10, 2, 17, 4, 40, 989000, UTC)
    assert resolved.ends_at == datetime(2019, 10, 2, 17, 20, tzinfo=UTC)
    assert firing.labels["InstanceId"] == "i-12345678901234567"
    assert firing.labels["metric_name"] == "CPUUtilization"


def test_one_alarm_through_eventbridge_and_sns_is_one_alert() -> None:
    (from_event,) = _alerts("cloudwatch", _load(CW_EVENT))
    envelope = _load(CW_SNS)
    message = json.loads(envelope["Records"][0]["Sns"]["Message"])
    message["AlarmArn"] = from_event.resource
    envelope["Records"][0]["Sns"]["Message"] = json.dumps(message)
    (from_sns,) = _alerts("cloudwatch", envelope)
    assert from_sns.fingerprint == from_event.fingerprint


def test_insufficient_data_is_skipped_not_an_alert() -> None:
    event = _load(CW_EVENT)
    event["detail"]["state"]["value"] = "INSUFFICIENT_DATA"
    result = _parse("cloudwatch", event)
    assert isinstance(result, AlertBatch)
    assert result.alerts == ()
    assert "INSUFFICIENT_DATA" in result.skipped[0].reason


def test_cloudwatch_service_comes_from_a_service_dimension_and_severity_from_options() -> None:
    event = _load(CW_EVENT)
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    metric["dimensions"] = {"ClusterName": "shop", "ServiceName": "checkout"}
    (alert,) = _alerts("cloudwatch", event, cloudwatch_alarm_severity=Severity.CRITICAL)
    assert alert.service == "checkout"
    assert alert.severity == "critical"


def test_an_event_without_resources_gets_the_alarm_arn_built_from_its_fields() -> None:
    event = _load(CW_EVENT)
    event["resources"] = []
    (alert,) = _alerts("cloudwatch", event)
    assert alert.resource == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
    assert alert.fingerprint == EXPECTED[CW_EVENT][1][0][0]


# -- SNS -------------------------------------------------------------------------------------------


SNS_HEADERS = {"content-type": "text/plain; charset=UTF-8"}


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_an_sns_subscription_handshake_is_its_own_result(kind: str) -> None:
    headers = SNS_HEADERS | {"x-amz-sns-message-type": kind}
    result = _parse("cloudwatch", sns_envelope(kind), headers)
    assert result == SnsSubscription(
        source=AlertSource.CLOUDWATCH,
        message_type=kind,  # type: ignore[arg-type]
        topic_arn="arn:aws:sns:us-west-2:123456789012:MyTopic",
        subscribe_url=SUBSCRIBE_URL,
        token="2336412f37fb687f5d51e6e2425",
        message_id="165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    )


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "https://sns.us-west-2.amazonaws.com.evil.io/",
     "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
     "https://user@sns.us-west-2.amazonaws.com/"],
)  # fmt: skip
def test_a_subscribe_url_that_is_not_sns_is_refused(url: str) -> None:
    error = _error(
        "cloudwatch", sns_envelope("SubscriptionConfirmation", SubscribeURL=url), SNS_HEADERS
    )
    assert error.field == "SubscribeURL"


def test_the_sns_message_type_header_must_agree_with_the_body() -> None:
    headers = SNS_HEADERS | {"X-Amz-Sns-Message-Type": "Notification"}
    error = _error("cloudwatch", sns_envelope("SubscriptionConfirmation"), headers)
    assert error.field == "headers.x-amz-sns-message-type"


def test_an_sns_notification_over_http_carries_the_alarm() -> None:
    lambda_record = _load(CW_SNS)["Records"][0]["Sns"]
    body = sns_envelope("Notification", Message=lambda_record["Message"], Subject="ALARM")
    result = _parse("cloudwatch", body, SNS_HEADERS)
    assert isinstance(result, AlertBatch)
    assert [a.fingerprint for a in result.alerts] == [SNS_ALARM[0]]


def test_a_guardduty_event_published_to_sns_is_read() -> None:
    event = _load("aws_guardduty_finding_eventbridge.DERIVED.json")
    (alert,) = _alerts("guardduty", sns_envelope("Notification", Message=json.dumps(event)))
    assert alert.fingerprint == GD_ID


def test_an_sns_message_that_is_not_an_alarm_is_skipped_with_its_path() -> None:
    result = _parse("cloudwatch", _load("aws_sns_lambda_event_envelope.aws-lambda-go.json"))
    assert isinstance(result, AlertBatch)
    assert result.alerts == ()
    assert [s.path for s in result.skipped] == ["Records[0].Sns.Message"]


def test_a_bad_alarm_inside_sns_names_the_field_inside_the_message() -> None:
    envelope = _load(CW_SNS)
    message = json.loads(envelope["Records"][0]["Sns"]["Message"])
    message["NewStateValue"] = "BROKEN"
    envelope["Records"][0]["Sns"]["Message"] = json.dumps(message)
    error = _error("cloudwatch", envelope)
    assert error.field == "Records[0].Sns.Message.NewStateValue"
    assert "'OK', 'ALARM' or 'INSUFFICIENT_DATA'" in error.message


# -- GuardDuty -------------------------------------------------------------------------------------

GD_EVENT = "aws_guardduty_finding_eventbridge.DERIVED.json"


def test_guardduty_finding_details() -> None:
    (alert,) = _alerts("guardduty", _load(GD_EVENT))
    assert alert.fault_hint == "credential-compromise"
    assert alert.starts_at == datetime(2020, 5, 26, 22, 2, 24, tzinfo=UTC)
    assert alert.labels["user_name"] == "testuser"
    assert alert.labels["finding_type"] == "Recon:IAMUser/UserPermissions"


@pytest.mark.parametrize(
    ("score", "severity"),
    [(0.5, "info"), (1, "low"), (3.9, "low"), (4, "medium"), (6.9, "medium"), (7, "high"),
     (8.9, "high"), (9, "critical"), (10, "critical")],
)  # fmt: skip
def test_guardduty_scores_map_to_aws_severity_bands(score: float, severity: str) -> None:
    event = _load(GD_EVENT)
    event["detail"]["severity"] = score
    assert _alerts("guardduty", event)[0].severity == severity


def _instance_finding(finding_type: str) -> dict[str, Any]:
    event = _load(GD_EVENT)
    event["detail"]["type"] = finding_type
    event["detail"]["resource"] = {
        "resourceType": "Instance",
        "instanceDetails": {
            "instanceId": "i-0abc",
            "tags": [{"key": "Name", "value": "worker"}, {"key": "Service", "value": "batch"}],
            "networkInterfaces": [{"securityGroups": [{"groupId": "sg-1", "groupName": "w"}]}],
        },
    }
    return event


@pytest.mark.parametrize(
    ("finding_type", "hint"),
    [("CryptoCurrency:EC2/BitcoinTool.B!DNS", "instance-compromise"),
     ("Recon:EC2/PortProbeUnprotectedPort", "security-group-exposure")],
)  # fmt: skip
def test_instance_findings_name_their_fault_and_service(finding_type: str, hint: str) -> None:
    (alert,) = _alerts("guardduty", _instance_finding(finding_type))
    assert (alert.fault_hint, alert.service, alert.resource) == (hint, "batch", "i-0abc")
    assert alert.labels["security_groups"] == "sg-1"


def test_an_archived_finding_resolves() -> None:
    event = _load(GD_EVENT)
    event["detail"]["service"]["archived"] = True
    (alert,) = _alerts("guardduty", event)
    assert (alert.status, alert.fingerprint) == ("resolved", GD_ID)
    assert alert.ends_at == datetime(2020, 5, 26, 22, 55, 21, 703000, tzinfo=UTC)


def test_get_findings_errors_are_named_as_the_cli_writes_them() -> None:
    listing = _load("aws_guardduty_get_findings_cli_example.awscli.json")
    del listing["Findings"][0]["Title"]
    listing["Findings"][0]["Service"]["EventFirstSeen"] = "soon"
    error = _error("guardduty", listing)
    assert [i.field for i in error.issues] == [
        "Findings[0].Title",
        "Findings[0].Service.EventFirstSeen",
    ]


def test_an_event_sent_to_the_wrong_source_says_so() -> None:
    error = _error("guardduty", _load(CW_EVENT))
    assert error.field == "detail-type"
    assert "CloudWatch Alarm State Change" in error.message


# -- PagerDuty -------------------------------------------------------------------------------------

PD_TRIGGER = "pagerduty_events_v2_enqueue_trigger.official-openapi-example.json"


@pytest.mark.parametrize(
    ("action", "status"), [("acknowledge", "acknowledged"), ("resolve", "resolved")]
)
def test_pagerduty_follow_up_events_match_the_trigger(action: str, status: str) -> None:
    (trigger,) = _alerts("pagerduty", _load(PD_TRIGGER))
    follow_up = {"routing_key": "e93facc04764012d7bfb002500d5d1a6", "dedup_key": "srv01/mysql"}
    (alert,) = _alerts("pagerduty", follow_up | {"event_action": action})
    assert (alert.status, alert.fingerprint) == (status, trigger.fingerprint)


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_or_resolve_without_dedup_key_is_refused(action: str) -> None:
    error = _error("pagerduty", {"routing_key": "k", "event_action": action})
    assert error.field == "dedup_key"
    assert action in error.message


def test_pagerduty_raw_keeps_the_event_but_not_the_routing_key() -> None:
    (alert,) = _alerts("pagerduty", _load(PD_TRIGGER))
    assert alert.raw["routing_key"] == "[redacted]"
    assert alert.raw["dedup_key"] == "srv01/mysql"
    assert "e93facc04764012d7bfb002500d5d1a6" not in json.dumps(alert.raw)


def test_a_pagerduty_trigger_without_dedup_key_is_fingerprinted_by_its_content() -> None:
    event = _load(PD_TRIGGER)
    del event["dedup_key"]
    (first,) = _alerts("pagerduty", event)
    event["payload"]["timestamp"] = "2015-07-17T09:00:00.000+0000"  # a later repeat
    (again,) = _alerts("pagerduty", event)
    event["payload"]["summary"] = "DISK at 99% on machine prod-datapipe04.example.com"
    (other,) = _alerts("pagerduty", event)
    assert first.fingerprint == again.fingerprint != other.fingerprint


@pytest.mark.parametrize(
    ("change", "field"),
    [({"event_action": "escalate"}, "event_action"),
     ({"routing_key": None}, "routing_key"),
     ({"payload": None}, "payload"),
     ({"dedup_key": "k" * 256}, "dedup_key"),
     ({"links": [{"text": "no href"}]}, "links[0].href"),
     ({"images": [{"alt": "no src"}]}, "images[0].src")],
)  # fmt: skip
def test_pagerduty_events_are_validated_as_the_openapi_says(
    change: dict[str, Any], field: str
) -> None:
    event = _load(PD_TRIGGER) | change
    event = {k: v for k, v in event.items() if v is not None}
    assert _error("pagerduty", event).field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [({"severity": "fatal"}, "payload.severity"), ({"summary": "x" * 1025}, "payload.summary"),
     ({"source": None}, "payload.source"), ({"timestamp": "yesterday"}, "payload.timestamp")],
)  # fmt: skip
def test_pagerduty_payload_fields_are_validated(change: dict[str, Any], field: str) -> None:
    event = _load(PD_TRIGGER)
    event["payload"] = {k: v for k, v in (event["payload"] | change).items() if v is not None}
    assert _error("pagerduty", event).field == field


def test_the_pagerduty_severity_enum_matches_the_official_openapi() -> None:
    spec = _load(PAGERDUTY_OPENAPI)
    payload = spec["components"]["schemas"]["Payload"]
    assert set(payload["properties"]["severity"]["enum"]) == {
        "critical",
        "error",
        "warning",
        "info",
    }
    assert set(payload["required"]) == {"summary", "severity", "source"}
    for severity, expected in [("critical", "critical"), ("error", "high"),
                               ("warning", "medium"), ("info", "info")]:  # fmt: skip
        event = _load(PD_TRIGGER)
        event["payload"]["severity"] = severity
        assert _alerts("pagerduty", event)[0].severity == expected


# -- the generic format ----------------------------------------------------------------------------


def _docs() -> str:
    return (Path(__file__).resolve().parents[3] / "docs" / "alerts.md").read_text(encoding="utf-8")


def _schema_in(text: str) -> Any:
    start = text.rindex("{", 0, text.index('"$schema"'))
    return json.JSONDecoder().raw_decode(text, start)[0]


def test_the_generic_schema_in_the_docs_is_the_one_the_code_reads() -> None:
    schema = _schema_in(_docs())
    assert schema == _schema_in(generic.__doc__ or "")
    fields = generic.GenericAlert.model_fields
    assert set(schema["properties"]) == set(fields)
    assert set(schema["required"]) == {name for name, f in fields.items() if f.is_required()}
    assert schema["properties"]["severity"]["enum"] == [s.value for s in Severity]


def test_the_generic_example_in_the_docs_parses() -> None:
    example = json.loads(re.findall(r"```json\n(.*?)```", _docs(), re.S)[0])
    (alert,) = _alerts("generic", example)
    assert (alert.fingerprint, alert.status, alert.severity, alert.service) == (
        "generic:checkout-error-rate", "firing", "high", "checkout",
    )  # fmt: skip
    assert alert.title == "Checkout error rate above 5%"


GENERIC = {"title": "Queue backlog", "service": "billing", "severity": "low", "status": "firing"}


def test_a_generic_alert_without_fingerprint_resolves_by_its_content() -> None:
    (firing,) = _alerts("generic", GENERIC)
    (resolved,) = _alerts("generic", GENERIC | {"status": "resolved"})
    (other,) = _alerts("generic", GENERIC | {"service": "payroll"})
    assert firing.fingerprint == resolved.fingerprint != other.fingerprint
    assert resolved.status == "resolved"


def test_generic_takes_an_array_and_names_the_bad_item() -> None:
    assert len(_alerts("generic", [GENERIC, GENERIC | {"title": "Other"}])) == 2
    error = _error("generic", [GENERIC, GENERIC | {"severty": "high"}])
    assert (error.field, error.message) == ("[1].severty", "not a field of this format")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"severity": "urgent"}, "severity"), ({"status": "acknowledged"}, "status"),
     ({"title": ""}, "title"), ({"labels": {"team": 7}}, "labels.team"),
     ({"links": [{"url": "javascript:alert(1)"}]}, "links[0].url"),
     ({"starts_at": "2024-13-01T00:00:00Z"}, "starts_at")],
)  # fmt: skip
def test_generic_fields_are_validated(change: dict[str, Any], field: str) -> None:
    assert _error("generic", GENERIC | change).field == field


# -- bad deliveries --------------------------------------------------------------------------------


def test_malformed_json_is_an_error_on_the_body() -> None:
    error = _error("alertmanager", b'{"version": "4",')
    assert error.field == "body"
    assert error.message.startswith("malformed JSON")


def test_a_list_where_an_object_is_expected() -> None:
    error = _error("alertmanager", [_am_alert("firing", "x")])
    assert (error.field, error.message) == ("body", "expected a JSON object, got an array")


def test_an_unknown_source_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSourceError) as caught:
        parse("nagios", b"{}", JSON)
    assert caught.value.field == "source"
    assert "alertmanager" in caught.value.message


def test_a_missing_field_is_named_by_its_path() -> None:
    document = _load(next(iter(EXPECTED)))
    del document["alerts"][0]["labels"]
    error = _error("alertmanager", document)
    assert (error.field, error.message) == ("alerts[0].labels", "required")


def test_a_wrong_type_is_named_with_what_came() -> None:
    document = _load(next(iter(EXPECTED)))
    document["alerts"][1]["labels"]["severity"] = 3
    error = _error("alertmanager", document)
    assert (error.field, error.message) == ("alerts[1].labels.severity", "expected a string, got 3")


def test_every_problem_is_listed() -> None:
    document = _load(next(iter(EXPECTED)))
    document["version"] = "3"
    del document["alerts"][0]["startsAt"]
    error = _error("alertmanager", document)
    assert [issue.field for issue in error.issues] == ["version", "alerts[0].startsAt"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"", "empty"), (b"\xff\xfe{", "not UTF-8"), (b'{"a": NaN}', "NaN is not JSON"),
     (b"[" * 100_000, "nested"), (b"[" * 70 + b"]" * 70, "nested")],
)  # fmt: skip
def test_bodies_that_are_not_usable_json(body: bytes, fragment: str) -> None:
    error = _error("generic", body)
    assert error.field == "body"
    assert fragment in error.message


@pytest.mark.parametrize(
    ("source", "content_type", "accepted"),
    [("alertmanager", "application/json; charset=utf-8", True),
     ("generic", "application/vnd.alert+json", True),
     ("cloudwatch", "text/plain; charset=UTF-8", True),
     ("alertmanager", "text/plain", False),
     ("generic", "application/x-www-form-urlencoded", False)],
)  # fmt: skip
def test_content_types(source: str, content_type: str, accepted: bool) -> None:
    documents = {"alertmanager": _am_alert("firing", "x"), "generic": GENERIC,
                 "cloudwatch": _load(CW_EVENT)}  # fmt: skip
    body = json.dumps(documents[source]).encode()
    if accepted:
        assert isinstance(parse(source, body, {"Content-Type": content_type}), AlertBatch)
    else:
        with pytest.raises(ContentTypeError) as caught:
            parse(source, body, {"Content-Type": content_type})
        assert caught.value.field == "headers.content-type"


# -- anything at all: a result or an IngestError, never another exception --------------------------

KEYS = [
    "alerts", "status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "version",
    "detail-type", "detail", "source", "state", "value", "alarmData", "alarmArn", "AlarmName",
    "NewStateValue", "Records", "Sns", "Type", "Message", "TopicArn", "SubscribeURL", "Token",
    "Findings", "resource", "severity", "routing_key", "event_action", "dedup_key", "payload",
    "summary", "title", "service",
]  # fmt: skip
WORDS = [
    "4", "firing", "resolved", "ALARM", "OK", "INSUFFICIENT_DATA", "trigger", "resolve",
    "Notification", "SubscriptionConfirmation", "CloudWatch Alarm State Change",
    "GuardDuty Finding", "2024-05-01T10:00:00Z", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "https://sns.us-east-1.amazonaws.com/", "aws:sns",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(WORDS),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
sources = st.sampled_from([s.value for s in AlertSource])


def _outcome(source: str, body: bytes, headers: dict[str, str]) -> IngestResult | IngestError:
    try:
        return parse(source, body, headers)
    except IngestError as error:
        return error


def _check(source: str, body: bytes, headers: dict[str, str]) -> None:
    outcome = _outcome(source, body, headers)
    if isinstance(outcome, IngestError):
        assert outcome.field
        assert outcome.message
    elif isinstance(outcome, AlertBatch):
        for alert in outcome.alerts:
            assert alert.fingerprint.startswith(f"{alert.source.value}:")
            for moment in (alert.starts_at, alert.ends_at):
                assert moment is None or moment.utcoffset() is not None


@settings(max_examples=400, deadline=None)
@given(source=sources, document=json_values)
def test_any_json_gives_a_result_or_an_ingest_error(source: str, document: Any) -> None:
    _check(source, json.dumps(document).encode(), JSON)


@settings(max_examples=100, deadline=None)
@given(source=sources, body=st.binary(max_size=64), content_type=st.text(max_size=20))
def test_any_bytes_give_a_result_or_an_ingest_error(
    source: str, body: bytes, content_type: str
) -> None:
    _check(source, body, {"Content-Type": content_type})


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _messages(value: Any, *, opened: bool) -> Any:
    """SNS ``Message`` strings opened into the JSON they carry (so a mutation can reach inside
    them), or closed back into strings."""
    if isinstance(value, list):
        return [_messages(item, opened=opened) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _messages(item, opened=opened) for key, item in value.items()}
    message = out.get("Message")
    if opened and isinstance(message, str) and message.startswith("{"):
        out["Message"] = _messages(json.loads(message), opened=True)
    elif not opened and "Message" in out and not isinstance(message, str):
        out["Message"] = json.dumps(message)
    return out


def _mutated(document: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    document = copy.deepcopy(document)
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return document


@pytest.mark.parametrize("name", sorted(EXPECTED))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_mutation_of_a_payload_gives_a_result_or_an_ingest_error(
    name: str, data: st.DataObject
) -> None:
    source, _ = EXPECTED[name]
    document = _messages(_load(name), opened=True)
    path = data.draw(st.sampled_from(_paths(document)))
    delete = bool(path) and data.draw(st.booleans())
    new = None if delete else data.draw(json_values)
    mutated = _messages(_mutated(document, path, new, delete), opened=False)
    _check(source, json.dumps(mutated).encode(), JSON)
