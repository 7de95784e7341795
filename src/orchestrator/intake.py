"""What comes in from outside, as the commander's ``Alert``: the EventBridge events an estate
emits (CloudWatch alarm state changes, GuardDuty findings, CloudTrail API calls) and the
``Signal``s the gateway hands over from alert sources (Alertmanager, Grafana, PagerDuty, ...).

Pure: the estate says which service an alert is about (its routes, names and resources: see
``services.estate.routing``), the step says when. An event about nothing in the estate is
``None``; a signal that routes nowhere is ``None`` too, and the caller takes it as unrouted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.state import Alert
from services.aws.resources import Estate, ServiceResources
from services.estate.routing import AlertFacts, Routed, route


@dataclass(frozen=True, slots=True)
class Signal:
    """An alert from a monitoring system, already normalised by the gateway."""

    fingerprint: str
    source: str
    firing: bool
    """False when the source says the alert has resolved."""
    title: str
    service: str | None = None
    resource: str | None = None
    fault_hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def from_event(estate: Estate, event: dict[str, Any], step: int) -> Alert | None:
    """An alert for EventBridge events that signal trouble; None for recoveries and the rest."""
    kind = event.get("detail-type")
    detail = event.get("detail", {})
    if kind == "CloudWatch Alarm State Change":
        if detail.get("state", {}).get("value") != "ALARM":
            return None
        name = detail.get("alarmName", "")
        service = service_by(estate, lambda r: name in r.alarms.values())
        if service is None:
            return None
        return Alert(
            fingerprint=f"alarm:{name}", source="cloudwatch", service=service,
            summary=f"alarm {name} in ALARM", step=step, fault_hint=None,
            details={"alarm": name},
        )  # fmt: skip
    if kind == "GuardDuty Finding":
        return _guardduty(estate, detail, step)
    if kind == "AWS API Call via CloudTrail":
        return _cloudtrail(estate, detail, step)
    return None


def from_signal(estate: Estate, signal: Signal, step: int) -> Alert | None:
    """The alert a firing signal raises, on the service the estate routes it to (see
    ``services.estate.routing``); None when it routes nowhere."""
    service = routing_of(estate, signal).service
    if service is None:
        return None
    return Alert(
        fingerprint=signal.fingerprint,
        source=signal.source,
        service=service,
        summary=signal.title,
        step=step,
        fault_hint=signal.fault_hint,
        details=dict(signal.details),
    )


def routing_of(estate: Estate, signal: Signal) -> Routed:
    """Where ``signal`` goes, and why (the reason a person reads when it goes nowhere)."""
    labels = _strings(signal.details.get("labels"))
    return route(
        estate,
        AlertFacts(
            service=signal.service,
            resource=signal.resource,
            labels=labels,
            annotations=_strings(signal.details.get("annotations")),
            # The cloudwatch source keeps an alarm's metric dimensions among its labels.
            dimensions=labels if signal.source == "cloudwatch" else {},
        ),
    )


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def service_by(estate: Estate, match: Callable[[ServiceResources], bool]) -> str | None:
    return next((n for n, r in estate.services.items() if match(r)), None)


def _guardduty(estate: Estate, detail: dict[str, Any], step: int) -> Alert | None:
    resource = detail.get("resource", {})
    finding_type = str(detail.get("type", ""))
    key = resource.get("accessKeyDetails", {})
    instance = resource.get("instanceDetails", {})
    tags = {t.get("key"): t.get("value") for t in instance.get("tags", [])}
    service: str | None = None
    hint = None
    details: dict[str, Any] = {"finding_type": finding_type, "finding_id": detail.get("id")}
    if key:
        service = service_by(estate, lambda r: r.iam_user == key.get("userName"))
        hint = "credential-compromise"
        details["access_key_id"] = key.get("accessKeyId")
    elif finding_type.startswith("Recon:EC2/PortProbe"):
        groups = [
            g.get("groupId")
            for nic in instance.get("networkInterfaces", [])
            for g in nic.get("securityGroups", [])
        ]
        service = service_by(estate, lambda r: r.security_group_id in groups)
        hint = "security-group-exposure"
    elif instance:
        service = tags.get("incident-commander:service")
        hint = "instance-compromise"
        details["instance_id"] = instance.get("instanceId")
    if service is None or service not in estate.services:
        return None
    return Alert(
        fingerprint=f"guardduty:{detail.get('id')}", source="guardduty", service=service,
        summary=str(detail.get("title", finding_type)), step=step, fault_hint=hint,
        details=details,
    )  # fmt: skip


def _cloudtrail(estate: Estate, detail: dict[str, Any], step: int) -> Alert | None:
    if detail.get("eventName") != "AuthorizeSecurityGroupIngress":
        return None
    params = detail.get("requestParameters", {})
    group = params.get("groupId")
    rules = params.get("ipPermissions", {}).get("items", [])
    world = [
        r for r in rules
        for rng in r.get("ipRanges", {}).get("items", [])
        if rng.get("cidrIp") == "0.0.0.0/0"
    ]  # fmt: skip
    service = service_by(estate, lambda r: r.security_group_id == group)
    if not world or service is None:
        return None
    port = world[0].get("fromPort")
    return Alert(
        fingerprint=f"cloudtrail:{detail.get('eventID')}", source="cloudtrail", service=service,
        summary=f"{group} opened port {port} to 0.0.0.0/0", step=step,
        fault_hint="security-group-exposure", details={"port": port, "group_id": group},
    )  # fmt: skip
