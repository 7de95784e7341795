"""The commander's own alert format, for anything that can POST JSON: a script, a cron job,
a tool without a webhook format of its own. The body is one alert object or an array of them::

    {
      "title": "Checkout error rate above 5%",
      "service": "checkout",
      "severity": "high",
      "status": "firing",
      "fingerprint": "checkout-error-rate",
      "resource": "arn:aws:ecs:eu-west-1:123456789012:service/shop/checkout",
      "labels": {"team": "payments", "env": "prod"},
      "starts_at": "2024-05-01T10:00:00Z",
      "description": "5xx ratio 7.2% over the last 5 minutes",
      "links": [{"label": "dashboard", "url": "https://grafana.example/d/checkout"}]
    }

Its JSON Schema (draft 2020-12; ``docs/alerts.md`` carries the same)::

    {
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "title": "Generic alert",
      "type": "object",
      "additionalProperties": false,
      "required": ["title", "service", "severity", "status"],
      "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 1024},
        "service": {"type": "string", "minLength": 1, "maxLength": 256},
        "severity": {"enum": ["critical", "high", "medium", "low", "info"]},
        "status": {"enum": ["firing", "resolved"]},
        "fingerprint": {"type": "string", "minLength": 1, "maxLength": 255},
        "resource": {"type": "string", "maxLength": 1024},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "description": {"type": "string", "maxLength": 65536},
        "links": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["url"],
            "properties": {
              "label": {"type": "string"},
              "url": {"type": "string", "pattern": "^https?://"}
            }
          }
        }
      }
    }

Unknown fields are refused (a misspelt ``severty`` is an error, not a silent default). Times
without an offset are UTC. The fingerprint is ``generic:<fingerprint>`` when given, else a
sha256 of service, title, resource and labels: send one when the title changes between
deliveries (it carries a value, say), or a resolve will not match its firing alert.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, JsonValue, field_validator

from services.errors import IngestError
from services.gateway.alerts import (
    Alert,
    AlertBatch,
    AlertSource,
    AlertStatus,
    IngestOptions,
    Severity,
    fingerprint,
    is_web_url,
    own_fingerprint,
    web_links,
)
from services.gateway.sources.schema import (
    Payload,
    UtcTime,
    join,
    json_type,
    member,
    validate,
    where,
)


class GenericLink(Payload):
    model_config = ConfigDict(extra="forbid")

    label: str = "link"
    url: str

    @field_validator("url")
    @classmethod
    def _web_url(cls, url: str) -> str:
        if not is_web_url(url):
            raise ValueError("expected an absolute http(s) URL")
        return url


class GenericAlert(Payload):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=1024)
    service: str = Field(min_length=1, max_length=256)
    severity: Severity
    status: Literal["firing", "resolved"]
    fingerprint: str | None = Field(None, min_length=1, max_length=255)
    resource: str | None = Field(None, max_length=1024)
    labels: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcTime | None = None
    ends_at: UtcTime | None = None
    description: str | None = Field(None, max_length=65536)
    links: list[GenericLink] = Field(default_factory=list)


def normalise(alert: GenericAlert, raw: dict[str, JsonValue]) -> Alert:
    own = alert.fingerprint
    resolved = alert.status == "resolved"
    return Alert(
        source=AlertSource.GENERIC,
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        fingerprint=own_fingerprint(AlertSource.GENERIC, own)
        if own
        else fingerprint(
            AlertSource.GENERIC, alert.service, alert.title, alert.resource, dict(alert.labels)
        ),
        title=alert.title,
        description=alert.description or None,
        service=alert.service,
        resource=alert.resource or None,
        severity=alert.severity,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if resolved else None,
        labels=alert.labels,
        links=web_links(*((link.label, link.url) for link in alert.links)),
        raw=raw,
    )


def read(document: JsonValue, options: IngestOptions, at: str = "") -> AlertBatch:
    """The alert, or alerts, in ``document``."""
    if isinstance(document, list):
        if not document:
            raise IngestError(where(at), "an empty array; expected one alert or more")
        alerts = tuple(
            normalise(validate(GenericAlert, item, join(at, index)), member(document, at, index))
            for index, item in enumerate(document)
        )
    elif isinstance(document, dict):
        alerts = (normalise(validate(GenericAlert, document, at), document),)
    else:
        raise IngestError(
            where(at), f"expected an alert object or an array of them, got {json_type(document)}"
        )
    return AlertBatch(source=AlertSource.GENERIC, alerts=alerts)
