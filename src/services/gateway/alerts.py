"""The one alert model every source is normalised to, and how alerts are fingerprinted.

Each source module (``services.gateway.sources``) reads its own format into :class:`Alert`;
``services.gateway.ingest.parse`` picks the source for a delivery and returns an
:data:`IngestResult`: an :class:`AlertBatch`, or an :class:`SnsSubscription` for the route to
confirm. Everything here is pure: no clock, no I/O.

Fingerprints are ``<source>:<id>``. The id is the source's own when it has one (Alertmanager's
and Grafana's ``fingerprint``, PagerDuty's ``dedup_key``, a GuardDuty finding id), else a sha256
of the fields that identify the alert (a CloudWatch alarm's ARN, a PagerDuty event's summary
and source, ...). Repeat deliveries and the resolve of a firing alert give the same fingerprint;
nothing that changes between deliveries (times, values, counts) goes into it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator


class AlertSource(StrEnum):
    """The monitoring system an alert came from (not the path it travelled: a CloudWatch alarm
    is ``cloudwatch`` whether EventBridge, SNS or a Lambda alarm action delivered it)."""

    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    CLOUDWATCH = "cloudwatch"
    GUARDDUTY = "guardduty"
    PAGERDUTY = "pagerduty"
    GENERIC = "generic"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    """Someone is on it (PagerDuty ``acknowledge``); still a problem, no longer unowned."""


class Severity(StrEnum):
    """One scale for every source; each source module documents how its own scale maps."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


FaultHint = Literal["credential-compromise", "instance-compromise", "security-group-exposure"]
"""What a security finding names, in the fault kinds the agents know; None for metric alerts."""

_WEB_SCHEMES = frozenset({"http", "https"})


class Link(BaseModel):
    """A page about the alert: the rule that fired, a dashboard, a runbook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    url: str

    @field_validator("url")
    @classmethod
    def _web_url(cls, url: str) -> str:
        if not is_web_url(url):
            raise ValueError("not an http(s) URL")
        return url


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL: the only links an alert keeps (no ``javascript:``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in _WEB_SCHEMES and bool(parts.netloc)


def web_links(*candidates: tuple[str, str | None]) -> tuple[Link, ...]:
    """The ``(label, url)`` pairs whose URL is a web URL, in order, each URL once."""
    seen: set[str] = set()
    out: list[Link] = []
    for label, url in candidates:
        if url and url not in seen and is_web_url(url):
            seen.add(url)
            out.append(Link(label=label, url=url))
    return tuple(out)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class Alert(BaseModel):
    """One alert from any source, normalised."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: AlertSource
    status: AlertStatus
    fingerprint: str = Field(min_length=1)
    """Stable across repeat deliveries and across firing -> resolved; see the module doc."""
    title: str = Field(min_length=1)
    description: str | None = None
    service: str | None = None
    """The service the alert is about, when the source says (a label, a tag, a dimension)."""
    resource: str | None = None
    """The thing that is wrong: an ARN, an instance, a host, an alarm."""
    severity: Severity
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    """Set for resolved alerts when the source says when it ended."""
    labels: dict[str, str] = Field(default_factory=dict)
    links: tuple[Link, ...] = ()
    fault_hint: FaultHint | None = None
    raw: dict[str, JsonValue]
    """The source's own object for this alert, for the audit trail (secrets redacted)."""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class Skipped(BaseModel):
    """Part of a delivery that carried no alert, and why (an SNS message that is not an alarm,
    a CloudWatch alarm entering INSUFFICIENT_DATA)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    reason: str


class AlertBatch(BaseModel):
    """The alerts one delivery carried, in the order it carried them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["alerts"] = "alerts"
    source: AlertSource
    alerts: tuple[Alert, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    def __add__(self, other: AlertBatch) -> AlertBatch:
        return AlertBatch(
            source=self.source,
            alerts=self.alerts + other.alerts,
            skipped=self.skipped + other.skipped,
        )


class SnsSubscription(BaseModel):
    """An SNS subscription handshake. For ``SubscriptionConfirmation`` the route confirms by
    fetching ``subscribe_url``; for ``UnsubscribeConfirmation`` that URL would subscribe again,
    so the route only records it. ``subscribe_url`` has been checked to be an SNS endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sns-subscription"] = "sns-subscription"
    source: AlertSource
    message_type: Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"]
    topic_arn: str
    subscribe_url: str
    token: str
    message_id: str


IngestResult = AlertBatch | SnsSubscription


class IngestOptions(BaseModel):
    """The few choices an operator makes about normalisation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cloudwatch_alarm_severity: Severity = Severity.HIGH
    """CloudWatch alarms carry no severity; every alarm gets this one."""


DEFAULT_OPTIONS = IngestOptions()


def own_fingerprint(source: AlertSource, own_id: str) -> str:
    """The fingerprint of an alert whose source gives it an id of its own."""
    return f"{source.value}:{own_id}"


def fingerprint(source: AlertSource, *identity: JsonValue) -> str:
    """The fingerprint of an alert identified by ``identity`` (canonical JSON, sha256)."""
    canonical = json.dumps(
        [source.value, *identity], sort_keys=True, ensure_ascii=True, separators=(",", ":")
    )
    return f"{source.value}:{hashlib.sha256(canonical.encode('ascii')).hexdigest()}"
