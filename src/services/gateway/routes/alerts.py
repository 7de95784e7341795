"""``POST /v1/alerts/{source}``: a monitoring system delivers alerts; 202 once they are queued."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from orchestrator.intake import Signal
from services.audit import AuditRecord
from services.errors import OverloadedError, UpstreamError
from services.gateway import sns_signature
from services.gateway.alerts import Alert, AlertSource, AlertStatus, SnsSubscription
from services.gateway.auth import Principal
from services.gateway.deps import Gateway, GatewayDep, caller
from services.gateway.ingest import SNS_RECOGNISERS, parse
from services.gateway.problems import responses
from services.gateway.routes import API_PREFIX
from services.gateway.schemas import AlertsAccepted, SkippedOut, SubscriptionHandled
from services.gateway.sources.schema import decode_json

router = APIRouter(prefix=API_PREFIX, tags=["alerts"])

_ERRORS = responses(
    400, 404, 413, 415, 502, 503,
    s403="The credential lacks the ingest role.",
    s404="No such alert source.",
    s415="The body is not JSON (SNS may send text/plain to cloudwatch and guardduty).",
    s502="An SNS subscription could not be confirmed; SNS will retry.",
)  # fmt: skip

_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "additionalProperties": True},
            "example": {
                "version": "4",
                "status": "firing",
                "receiver": "incident-commander",
                "groupKey": '{}:{alertname="HighErrorRate"}',
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": "HighErrorRate", "service": "checkout"},
                        "annotations": {"summary": "5xx above 5%"},
                        "startsAt": "2026-11-23T10:00:00Z",
                        "fingerprint": "4f9a3c2e",
                    }
                ],
            },
        },
        "text/plain": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/alerts/{source}",
    status_code=202,
    response_model=AlertsAccepted | SubscriptionHandled,
    responses=_ERRORS,
    openapi_extra={"requestBody": _BODY},
    summary="Deliver alerts from a monitoring system",
    description=(
        "Sources: " + ", ".join(s.value for s in AlertSource) + ". The body is the source's "
        "own webhook payload (Alertmanager v4, Grafana, CloudWatch alarm via EventBridge or SNS, "
        "GuardDuty via EventBridge, PagerDuty Events v2, or the generic format of "
        "docs/alerts.md). Answered once the alerts are queued; the commander correlates them "
        "into incidents behind the answer. Repeat deliveries are idempotent."
    ),
)
async def deliver(
    request: Request,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("alerts.ingest")],
    source: Annotated[str, Path(description="alertmanager, grafana, cloudwatch, ...")],
) -> AlertsAccepted | SubscriptionHandled:
    try:
        body = await request.body()
        result = parse(source, body, request.headers, options=gateway.ingest_options)
        # Only the AWS sources take SNS envelopes: the others' bodies are not decoded twice.
        if gateway.settings.sns_verify_signatures and result.source in SNS_RECOGNISERS:
            envelope = decode_json(body)  # parsed above: well-formed JSON
            if sns_signature.is_http_envelope(envelope):
                assert isinstance(envelope, dict)
                await gateway.sns.verify(envelope)
    except Exception:
        gateway.metrics.deliveries.labels(_label(source), "rejected").inc()
        raise
    if isinstance(result, SnsSubscription):
        gateway.metrics.deliveries.labels(result.source.value, "subscription").inc()
        return await _subscription(gateway, result)
    try:
        # A thread: in the cluster this is a Redis round trip (in one process, a queue append).
        await run_in_threadpool(
            gateway.commander.submit, [to_signal(alert) for alert in result.alerts]
        )
    except OverloadedError:
        gateway.metrics.deliveries.labels(result.source.value, "overloaded").inc()
        raise
    gateway.metrics.deliveries.labels(result.source.value, "accepted").inc()
    for alert in result.alerts:
        gateway.metrics.alerts.labels(alert.source.value, alert.status.value).inc()
    resolved = sum(1 for a in result.alerts if a.status is AlertStatus.RESOLVED)
    return AlertsAccepted(
        source=result.source.value,
        accepted=len(result.alerts),
        firing=len(result.alerts) - resolved,
        resolved=resolved,
        fingerprints=[a.fingerprint for a in result.alerts],
        skipped=[SkippedOut(path=s.path, reason=s.reason) for s in result.skipped],
    )


def to_signal(alert: Alert) -> Signal:
    """A gateway alert as the commander takes it: what fired, about what, how bad."""
    return Signal(
        fingerprint=alert.fingerprint,
        source=alert.source.value,
        firing=alert.status is not AlertStatus.RESOLVED,
        title=alert.title,
        service=alert.service,
        resource=alert.resource,
        fault_hint=alert.fault_hint,
        details={
            "severity": alert.severity.value,
            "status": alert.status.value,
            "description": alert.description,
            "labels": dict(alert.labels),
            "annotations": _annotations(alert),
            "links": [{"label": link.label, "url": link.url} for link in alert.links],
            "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
        },
    )


def _annotations(alert: Alert) -> dict[str, str]:
    """Alertmanager's and Grafana's annotations, which estate routes may match."""
    found = alert.raw.get("annotations")
    if not isinstance(found, dict):
        return {}
    return {key: value for key, value in found.items() if isinstance(value, str)}


async def _subscription(gateway: Gateway, handshake: SnsSubscription) -> SubscriptionHandled:
    """Confirm a SubscriptionConfirmation by fetching its SubscribeURL (already checked to be
    an SNS endpoint); an UnsubscribeConfirmation is only recorded, since fetching its URL
    would subscribe again."""
    confirmed = False
    if handshake.message_type == "SubscriptionConfirmation" and gateway.settings.sns_confirm:
        try:
            response = await gateway.http.get(handshake.subscribe_url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"could not confirm the SNS subscription to {handshake.topic_arn}: {exc}"
            ) from exc
        confirmed = True
    gateway.trail.append([_subscription_record(handshake, confirmed)])
    return SubscriptionHandled(
        message_type=handshake.message_type, topic_arn=handshake.topic_arn, confirmed=confirmed
    )


def _subscription_record(handshake: SnsSubscription, confirmed: bool) -> AuditRecord:
    return AuditRecord(
        actor="gateway",
        kind="sns." + ("subscribed" if confirmed else handshake.message_type.lower()),
        incident_id=None,
        data={"topic_arn": handshake.topic_arn, "message_id": handshake.message_id},
        key=f"sns:{handshake.message_id}",
    )


def _label(source: str) -> str:
    """A bounded label for a delivery that failed, perhaps to a source that does not exist."""
    return source if source in {s.value for s in AlertSource} else "unknown"
