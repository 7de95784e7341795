"""Grafana's alerting webhook (unified alerting, payload version 1).

Grafana's payload is Alertmanager's with more fields, so each alert is read as Alertmanager's
are (:mod:`.alertmanager` documents the mapping), with ``grafana:<fingerprint>`` and, besides
``generatorURL``, the alert's ``dashboardURL``, ``panelURL`` and ``silenceURL`` as links.
``values`` (the query results that fired) stay in ``raw``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from services.gateway.alerts import AlertBatch, AlertSource, IngestOptions
from services.gateway.sources.alertmanager import AlertmanagerAlert, normalise
from services.gateway.sources.schema import CamelPayload, member, validate


class GrafanaAlert(AlertmanagerAlert):
    dashboard_url: str = Field("", alias="dashboardURL")
    panel_url: str = Field("", alias="panelURL")
    silence_url: str = Field("", alias="silenceURL")


class GrafanaWebhook(CamelPayload):
    status: Literal["firing", "resolved"]
    alerts: list[GrafanaAlert]


def read(document: JsonValue, options: IngestOptions, at: str = "") -> AlertBatch:
    """Every alert of a Grafana webhook delivery."""
    webhook = validate(GrafanaWebhook, document, at)
    alerts = (
        normalise(
            alert,
            AlertSource.GRAFANA,
            member(document, at, "alerts", index),
            (
                ("dashboard", alert.dashboard_url),
                ("panel", alert.panel_url),
                ("silence", alert.silence_url),
            ),
        )
        for index, alert in enumerate(webhook.alerts)
    )
    return AlertBatch(source=AlertSource.GRAFANA, alerts=tuple(alerts))
