"""CloudWatch alarm state changes, in each of the three shapes AWS delivers them:

- an EventBridge event, ``detail-type: CloudWatch Alarm State Change`` (metric, math and
  anomaly-band alarms alike);
- a Lambda alarm action's payload (``alarmData``; metric and composite alarms);
- the alarm message an alarm's SNS action publishes (``AlarmName``, ``NewStateValue``,
  ``Trigger``), posted as is or inside an SNS envelope (:mod:`.sns` unwraps it).

Every shape becomes the same alert, so one alarm delivered two ways deduplicates:

- fingerprint: sha256 of the alarm's ARN (built from region, account and name when an
  EventBridge event lists none); the same ARN in ALARM and in OK;
- status: ALARM is firing, OK is resolved; INSUFFICIENT_DATA is neither, and is skipped;
- title: the alarm's name; description: its description and the state's reason;
- service: the first metric dimension in :data:`SERVICE_DIMENSIONS` (ECS service, Lambda
  function, Auto Scaling group, database, ...); None when the dimensions name none (an
  ``InstanceId`` alone is a resource, not a service); resource: the alarm's ARN;
- severity: alarms carry none; :attr:`IngestOptions.cloudwatch_alarm_severity` (high);
- starts_at: when the alarm entered ALARM; ends_at: when it left it;
- labels: ``alarm_name``, ``account``, ``region``, ``namespace``, ``metric_name`` and each
  metric dimension (``InstanceId``, ``ServiceName``, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from pydantic import Field, JsonValue

from services.errors import IngestError
from services.gateway.alerts import (
    Alert,
    AlertBatch,
    AlertSource,
    AlertStatus,
    IngestOptions,
    Skipped,
    fingerprint,
    web_links,
)
from services.gateway.sources.eventbridge import EventBridgeEvent, is_event, read_event
from services.gateway.sources.schema import (
    CamelPayload,
    PascalPayload,
    Payload,
    UtcTime,
    json_type,
    validate,
    where,
)

DETAIL_TYPE = "CloudWatch Alarm State Change"

SERVICE_DIMENSIONS = (
    "ServiceName",
    "FunctionName",
    "AutoScalingGroupName",
    "DBClusterIdentifier",
    "DBInstanceIdentifier",
    "CacheClusterId",
    "TableName",
    "QueueName",
    "LoadBalancer",
    "ClusterName",
)
"""Metric dimensions that name a service, best first."""

_REGION_CODE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+\Z")

StateValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


# -- EventBridge and Lambda alarm action (camelCase) -------------------------------------------


class AlarmState(CamelPayload):
    value: StateValue
    reason: str = ""
    timestamp: UtcTime | None = None


class Metric(CamelPayload):
    namespace: str = ""
    name: str = ""
    dimensions: dict[str, str] = Field(default_factory=dict)


class MetricStat(CamelPayload):
    metric: Metric


class AlarmMetric(CamelPayload):
    metric_stat: MetricStat | None = None


class AlarmConfiguration(CamelPayload):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)


class AlarmDetail(CamelPayload):
    alarm_name: str = Field(min_length=1)
    state: AlarmState
    previous_state: AlarmState | None = None
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)


class AlarmEvent(EventBridgeEvent[AlarmDetail]):
    pass


class AlarmAction(CamelPayload):
    """What CloudWatch passes a Lambda function that is an alarm's action."""

    source: Literal["aws.cloudwatch"]
    alarm_arn: str = Field(min_length=1)
    account_id: str
    time: UtcTime
    region: str
    alarm_data: AlarmDetail


# -- SNS alarm message (PascalCase; dimensions in lower case) ----------------------------------


class SnsDimension(Payload):
    name: str
    value: str


class SnsMetricId(PascalPayload):
    namespace: str = ""
    metric_name: str = ""
    dimensions: list[SnsDimension] = Field(default_factory=list)


class SnsMetricStat(PascalPayload):
    metric: SnsMetricId


class SnsMetric(PascalPayload):
    metric_stat: SnsMetricStat | None = None


class SnsTrigger(PascalPayload):
    namespace: str = ""
    metric_name: str = ""
    dimensions: list[SnsDimension] = Field(default_factory=list)
    metrics: list[SnsMetric] = Field(default_factory=list)


class SnsAlarm(PascalPayload):
    alarm_name: str = Field(min_length=1)
    alarm_description: str | None = None
    aws_account_id: str | None = Field(None, alias="AWSAccountId")
    new_state_value: StateValue
    new_state_reason: str = ""
    state_change_time: UtcTime
    region: str | None = None
    alarm_arn: str = Field(min_length=1)
    old_state_value: StateValue | None = None
    trigger: SnsTrigger | None = None


# -- one alarm, whatever the shape ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Alarm:
    name: str
    arn: str
    state: StateValue
    changed_at: datetime
    alarm_since: datetime | None
    """When the alarm entered ALARM, when a resolve says (its previous state's timestamp)."""
    description: str | None
    reason: str
    metrics: tuple[tuple[str, str, dict[str, str]], ...]
    """(namespace, metric name, dimensions) of each metric the alarm watches."""
    account: str | None
    region: str | None
    raw: dict[str, JsonValue]


def _alarm_since(detail: AlarmDetail) -> datetime | None:
    previous = detail.previous_state
    return previous.timestamp if previous is not None and previous.value == "ALARM" else None


def _metrics(detail: AlarmDetail) -> tuple[tuple[str, str, dict[str, str]], ...]:
    return tuple(
        (m.metric_stat.metric.namespace, m.metric_stat.metric.name, m.metric_stat.metric.dimensions)
        for m in detail.configuration.metrics
        if m.metric_stat is not None
    )


def _from_event(document: dict[str, JsonValue], at: str) -> _Alarm:
    event = read_event(document, DETAIL_TYPE, AlarmEvent, at)
    detail = event.detail
    arn = next(
        (r for r in event.resources if ":alarm:" in r),
        f"arn:aws:cloudwatch:{event.region}:{event.account}:alarm:{detail.alarm_name}",
    )
    return _Alarm(
        name=detail.alarm_name,
        arn=arn,
        state=detail.state.value,
        changed_at=detail.state.timestamp or event.time,
        alarm_since=_alarm_since(detail),
        description=detail.configuration.description,
        reason=detail.state.reason,
        metrics=_metrics(detail),
        account=event.account,
        region=event.region,
        raw=document,
    )


def _from_action(document: dict[str, JsonValue], at: str) -> _Alarm:
    action = validate(AlarmAction, document, at)
    detail = action.alarm_data
    return _Alarm(
        name=detail.alarm_name,
        arn=action.alarm_arn,
        state=detail.state.value,
        changed_at=detail.state.timestamp or action.time,
        alarm_since=_alarm_since(detail),
        description=detail.configuration.description,
        reason=detail.state.reason,
        metrics=_metrics(detail),
        account=action.account_id,
        region=action.region,
        raw=document,
    )


def _from_sns(document: dict[str, JsonValue], at: str) -> _Alarm:
    alarm = validate(SnsAlarm, document, at)
    metrics: list[tuple[str, str, dict[str, str]]] = []
    if alarm.trigger is not None:
        trigger = alarm.trigger
        if trigger.metric_name:
            dims = {d.name: d.value for d in trigger.dimensions}
            metrics.append((trigger.namespace, trigger.metric_name, dims))
        for m in trigger.metrics:
            if m.metric_stat is not None:
                metric = m.metric_stat.metric
                dims = {d.name: d.value for d in metric.dimensions}
                metrics.append((metric.namespace, metric.metric_name, dims))
    return _Alarm(
        name=alarm.alarm_name,
        arn=alarm.alarm_arn,
        state=alarm.new_state_value,
        changed_at=alarm.state_change_time,
        alarm_since=None,
        description=alarm.alarm_description,
        reason=alarm.new_state_reason,
        metrics=tuple(metrics),
        account=alarm.aws_account_id,
        region=alarm.region,
        raw=document,
    )


def _labels(alarm: _Alarm) -> dict[str, str]:
    labels = {"alarm_name": alarm.name}
    if alarm.account:
        labels["account"] = alarm.account
    if alarm.region:
        labels["region"] = alarm.region
    for namespace, metric_name, dimensions in alarm.metrics:
        if "metric_name" not in labels and metric_name:
            labels["namespace"] = namespace
            labels["metric_name"] = metric_name
        for name, value in dimensions.items():
            labels.setdefault(name, value)
    return labels


def _service(alarm: _Alarm) -> str | None:
    for name in SERVICE_DIMENSIONS:
        for _, _, dimensions in alarm.metrics:
            if dimensions.get(name):
                return dimensions[name]
    return None


def _console(alarm: _Alarm) -> str | None:
    if alarm.region is None or not _REGION_CODE.match(alarm.region):
        return None
    return (
        f"https://{alarm.region}.console.aws.amazon.com/cloudwatch/home"
        f"?region={alarm.region}#alarmsV2:alarm/{quote(alarm.name, safe='')}"
    )


def _normalise(alarm: _Alarm, at: str, options: IngestOptions) -> Alert | Skipped:
    if alarm.state == "INSUFFICIENT_DATA":
        return Skipped(
            path=where(at),
            reason=f"alarm {alarm.name!r} entered INSUFFICIENT_DATA, not ALARM or OK",
        )
    firing = alarm.state == "ALARM"
    description = "\n\n".join(part for part in (alarm.description, alarm.reason) if part)
    return Alert(
        source=AlertSource.CLOUDWATCH,
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        fingerprint=fingerprint(AlertSource.CLOUDWATCH, alarm.arn),
        title=alarm.name,
        description=description or None,
        service=_service(alarm),
        resource=alarm.arn,
        severity=options.cloudwatch_alarm_severity,
        starts_at=alarm.changed_at if firing else alarm.alarm_since,
        ends_at=None if firing else alarm.changed_at,
        labels=_labels(alarm),
        links=web_links(("console", _console(alarm))),
        raw=alarm.raw,
    )


def recognises(document: JsonValue) -> bool:
    """True when ``document`` is a CloudWatch alarm in one of the shapes this module reads."""
    return is_event(document, DETAIL_TYPE) or (
        isinstance(document, dict) and ("alarmData" in document or "AlarmName" in document)
    )


def read(document: JsonValue, options: IngestOptions, at: str = "") -> AlertBatch:
    """The alarm state change in ``document``, as an alert (or a skip, for INSUFFICIENT_DATA)."""
    if not isinstance(document, dict):
        raise IngestError(where(at), f"expected a JSON object, got {json_type(document)}")
    if "detail-type" in document:
        alarm = _from_event(document, at)
    elif "alarmData" in document:
        alarm = _from_action(document, at)
    elif "AlarmName" in document:
        alarm = _from_sns(document, at)
    else:
        raise IngestError(
            where(at),
            "not a CloudWatch alarm: expected an EventBridge event (detail-type), a Lambda "
            "alarm action (alarmData), an SNS alarm message (AlarmName) or an SNS envelope",
        )
    result = _normalise(alarm, at, options)
    if isinstance(result, Skipped):
        return AlertBatch(source=AlertSource.CLOUDWATCH, skipped=(result,))
    return AlertBatch(source=AlertSource.CLOUDWATCH, alerts=(result,))
