"""Prometheus Alertmanager's webhook (``webhook_config``, payload version 4), and the label
conventions Grafana's webhook shares with it.

One delivery is one notification group; every entry of ``alerts`` becomes an alert:

- fingerprint: ``alertmanager:<fingerprint>`` (Alertmanager's hash of the labels, the same when
  the alert resolves); a sha256 of the labels when an old Alertmanager sends none;
- title: the ``summary`` annotation, else the ``alertname`` label; description: the
  ``description`` (or ``message``) annotation;
- service: the first of the labels ``service``, ``app``, ``application``,
  ``app_kubernetes_io_name``, ``job``; resource: the first of ``instance``, ``pod``, ``host``,
  ``hostname``, ``node``, ``resource``;
- severity: the ``severity`` (or ``priority``) label through :data:`SEVERITY_WORDS`; medium
  when absent or not a known word;
- starts_at: ``startsAt``; ends_at: ``endsAt`` of a resolved alert (a firing alert's ``endsAt``
  is only Alertmanager's timeout guess);
- links: ``generatorURL`` and the ``runbook_url`` annotation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, JsonValue

from services.gateway.alerts import (
    Alert,
    AlertBatch,
    AlertSource,
    AlertStatus,
    IngestOptions,
    Link,
    Severity,
    fingerprint,
    own_fingerprint,
    web_links,
)
from services.gateway.sources.schema import CamelPayload, GoTime, UtcTime, member, validate

SERVICE_LABELS = ("service", "app", "application", "app_kubernetes_io_name", "job")
RESOURCE_LABELS = ("instance", "pod", "host", "hostname", "node", "resource")

SEVERITY_WORDS: Mapping[str, Severity] = {
    **dict.fromkeys(
        ("critical", "crit", "fatal", "emergency", "emerg", "alert", "disaster", "page", "p1",
         "sev1", "sev-1"),
        Severity.CRITICAL,
    ),
    **dict.fromkeys(("high", "error", "err", "major", "p2", "sev2", "sev-2"), Severity.HIGH),
    **dict.fromkeys(
        ("medium", "warning", "warn", "average", "moderate", "p3", "sev3", "sev-3"),
        Severity.MEDIUM,
    ),
    **dict.fromkeys(("low", "minor", "p4", "sev4", "sev-4"), Severity.LOW),
    **dict.fromkeys(
        ("info", "informational", "information", "notice", "debug", "none", "p5", "sev5",
         "sev-5"),
        Severity.INFO,
    ),
}  # fmt: skip
"""Words seen in ``severity`` labels (lower-cased), on the commander's scale."""


class AlertmanagerAlert(CamelPayload):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcTime
    ends_at: GoTime = None
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = ""


class AlertmanagerWebhook(CamelPayload):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[AlertmanagerAlert]


def severity_of(labels: Mapping[str, str]) -> Severity:
    """The severity a ``severity`` (or ``priority``) label names; medium when it names none."""
    word = labels.get("severity") or labels.get("priority") or ""
    return SEVERITY_WORDS.get(word.strip().lower(), Severity.MEDIUM)


def _first(labels: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((labels[name] for name in names if labels.get(name)), None)


def normalise(
    alert: AlertmanagerAlert,
    source: AlertSource,
    raw: dict[str, JsonValue],
    extra_links: tuple[tuple[str, str | None], ...] = (),
) -> Alert:
    """One Alertmanager-shaped alert (Alertmanager's or Grafana's) as an :class:`Alert`."""
    labels, notes = alert.labels, alert.annotations
    own = alert.fingerprint.strip()
    resolved = alert.status == "resolved"
    title = notes.get("summary") or labels.get("alertname") or f"{source.value} alert"
    return Alert(
        source=source,
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        fingerprint=own_fingerprint(source, own) if own else fingerprint(source, dict(labels)),
        title=title,
        description=notes.get("description") or notes.get("message") or None,
        service=_first(labels, SERVICE_LABELS),
        resource=_first(labels, RESOURCE_LABELS),
        severity=severity_of(labels),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if resolved else None,
        labels=labels,
        links=_links(alert, extra_links),
        raw=raw,
    )


def _links(alert: AlertmanagerAlert, extra: tuple[tuple[str, str | None], ...]) -> tuple[Link, ...]:
    runbook = alert.annotations.get("runbook_url")
    return web_links(("generator", alert.generator_url), *extra, ("runbook", runbook))


def read(document: JsonValue, options: IngestOptions, at: str = "") -> AlertBatch:
    """Every alert of an Alertmanager webhook delivery."""
    webhook = validate(AlertmanagerWebhook, document, at)
    alerts = (
        normalise(alert, AlertSource.ALERTMANAGER, member(document, at, "alerts", index))
        for index, alert in enumerate(webhook.alerts)
    )
    return AlertBatch(source=AlertSource.ALERTMANAGER, alerts=tuple(alerts))
