"""PagerDuty Events API v2 (``POST /v2/enqueue``): a tool that pages through PagerDuty can
send the commander the same events.

Validated as PagerDuty's OpenAPI document (``createV2Event``) and its event documentation say:
``routing_key`` and ``event_action`` (trigger, acknowledge, resolve) are required; a trigger
needs a ``payload`` with ``summary`` (at most 1024 characters), ``source`` and ``severity``
(critical, error, warning, info); ``dedup_key`` is at most 255 characters and is required to
acknowledge or resolve; ``links[].href`` and ``images[].src`` are required.

- fingerprint: ``pagerduty:<dedup_key>``; a trigger without one (PagerDuty would make one up)
  gets a sha256 of the routing key and the payload's summary, source, component, group and
  class, so a repeated delivery is the same alert;
- status: trigger is firing, acknowledge acknowledged, resolve resolved;
- title: ``payload.summary`` (an acknowledge or resolve without a payload is titled by its
  dedup_key); description: None (``custom_details`` stay in ``raw``);
- service: ``payload.component``, else ``payload.group``; resource: ``payload.source``;
- severity: critical -> critical, error -> high, warning -> medium, info -> info; an
  acknowledge or resolve without a payload says none and gets info;
- starts_at: ``payload.timestamp`` of a trigger; ends_at: that of a resolve;
- links: ``links[]`` (by their text) and ``client_url`` (by ``client``);
- raw: the event with ``routing_key`` redacted (it is a credential for the sender's service).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from services.errors import IngestError
from services.gateway.alerts import (
    Alert,
    AlertBatch,
    AlertSource,
    AlertStatus,
    IngestOptions,
    Severity,
    fingerprint,
    own_fingerprint,
    web_links,
)
from services.gateway.sources.schema import Payload, UtcTime, join, member, validate

SEVERITIES: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.INFO,
}
_STATUS = {
    "trigger": AlertStatus.FIRING,
    "acknowledge": AlertStatus.ACKNOWLEDGED,
    "resolve": AlertStatus.RESOLVED,
}
REDACTED = "[redacted]"


class EventPayload(Payload):
    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: UtcTime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(None, alias="class")
    custom_details: dict[str, JsonValue] | None = None


class EventLink(Payload):
    href: str
    text: str | None = None


class EventImage(Payload):
    src: str
    href: str | None = None
    alt: str | None = None


class Event(Payload):
    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(None, min_length=1, max_length=255)
    payload: EventPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[EventLink] = Field(default_factory=list)
    images: list[EventImage] = Field(default_factory=list)


def _fingerprint(event: Event) -> str:
    if event.dedup_key is not None:
        return own_fingerprint(AlertSource.PAGERDUTY, event.dedup_key)
    payload = event.payload  # a trigger's, which read() has checked is there
    identity = (
        (payload.summary, payload.source, payload.component, payload.group, payload.class_)
        if payload is not None
        else ()
    )
    return fingerprint(AlertSource.PAGERDUTY, event.routing_key, *identity)


def _labels(event: Event) -> dict[str, str]:
    payload = event.payload
    labels: dict[str, str] = {"event_action": event.event_action}
    if payload is not None:
        found = {
            "source": payload.source,
            "component": payload.component,
            "group": payload.group,
            "class": payload.class_,
        }
        labels |= {name: value for name, value in found.items() if value}
    if event.client:
        labels["client"] = event.client
    return labels


def normalise(event: Event, raw: dict[str, JsonValue]) -> Alert:
    payload = event.payload
    status = _STATUS[event.event_action]
    at = payload.timestamp if payload is not None else None
    return Alert(
        source=AlertSource.PAGERDUTY,
        status=status,
        fingerprint=_fingerprint(event),
        title=payload.summary if payload else f"{event.event_action} {event.dedup_key}",
        service=(payload.component or payload.group or None) if payload else None,
        resource=payload.source if payload else None,
        severity=SEVERITIES[payload.severity] if payload else Severity.INFO,
        starts_at=at if status is AlertStatus.FIRING else None,
        ends_at=at if status is AlertStatus.RESOLVED else None,
        labels=_labels(event),
        links=web_links(
            *((link.text or "link", link.href) for link in event.links),
            (event.client or "client", event.client_url),
        ),
        raw={**raw, "routing_key": REDACTED},
    )


def read(document: JsonValue, options: IngestOptions, at: str = "") -> AlertBatch:
    """The alert event in ``document``."""
    event = validate(Event, document, at)
    if event.event_action == "trigger" and event.payload is None:
        raise IngestError(join(at, "payload"), "required when event_action is 'trigger'")
    if event.event_action != "trigger" and event.dedup_key is None:
        raise IngestError(
            join(at, "dedup_key"),
            f"required when event_action is '{event.event_action}' (it names the alert)",
        )
    alert = normalise(event, member(document, at))
    return AlertBatch(source=AlertSource.PAGERDUTY, alerts=(alert,))
