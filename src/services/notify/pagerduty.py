"""PagerDuty, through the Events API v2 (``POST https://events.pagerduty.com/v2/enqueue``).

An incident is one PagerDuty alert: ``dedup_key`` is the incident id, so its escalation and
each approval request ``trigger`` the same alert, and it is ``acknowledge``-d and
``resolve``-d as the incident moves. Who is paged: the routing key of each escalation target
the incident's services name in the estate (``escalation: pagerduty:payments-oncall``),
else the default routing key; an incident below ``min_severity`` pages no one.
PagerDuty takes about 120 events a minute per routing key and answers 429 past that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from services.notify.channel import Catalogue, Target, post
from services.notify.notice import Event, Notice, at_least

DEFAULT = "default"
"""The target name of the default routing key."""
_PREFIX = "pagerduty:"
_SEVERITY = {"sev1": "critical", "sev2": "error", "sev3": "warning", "sev4": "info"}
_ACTIONS: Mapping[Event, str] = {
    "escalated": "trigger", "approval_needed": "trigger",
    "acknowledged": "acknowledge", "resolved": "resolve",
}  # fmt: skip


class PagerDuty:
    name = "pagerduty"
    events: frozenset[Event] = frozenset(_ACTIONS)

    def __init__(
        self,
        client: httpx.Client,
        *,
        url: str,
        routing_keys: Mapping[str, str],
        default_key: str | None,
        min_severity: str = "sev2",
        rate_limit: str = "120/minute",
    ) -> None:
        self._client = client
        self._url = url
        self._keys = dict(routing_keys)
        if default_key:
            self._keys[DEFAULT] = default_key
        self.min_severity = min_severity
        self.rate_limit = rate_limit

    def targets(self, notice: Notice, catalogue: Catalogue) -> list[Target]:
        if not at_least(notice.facts.severity, self.min_severity):
            return []
        names = escalation_targets(notice.facts.services, catalogue)
        known = [name for name in names if name in self._keys]
        if not known and DEFAULT in self._keys:
            known = [DEFAULT]
        return [Target(name, self._keys[name]) for name in known]

    def target(self, name: str) -> Target | None:
        key = self._keys.get(name)
        return None if key is None else Target(name, key)

    def send(self, notice: Notice, target: Target) -> None:
        body = json.dumps(event(notice, target.address)).encode()
        post(self._client, self._url, content=body)


def escalation_targets(services: tuple[str, ...], catalogue: Catalogue) -> list[str]:
    """The targets the services' estate entries name, in order, once each: a service's
    ``escalation`` (``pagerduty:payments-oncall`` and a bare ``payments-oncall`` both name
    payments-oncall), or, where it names none, its ``owners``. A name with no routing key is
    dropped by the caller (the default key pages then)."""
    found: list[str] = []
    for service in services:
        profile = catalogue.get(service)
        if profile is None:
            continue
        named = [profile.escalation] if profile.escalation else list(profile.owners)
        for target in named:
            name = target.removeprefix(_PREFIX)
            if name not in found:
                found.append(name)
    return found


def event(notice: Notice, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body for ``notice``."""
    action = _ACTIONS[notice.event]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": notice.incident_id,
    }
    if action != "trigger":
        return body
    details: dict[str, Any] = {
        "incident": notice.incident_id,
        "event": notice.event,
        "services": list(notice.facts.services),
        "severity": notice.facts.severity,
    }
    if notice.approval is not None:
        details["approval"] = {
            "candidate": notice.approval.candidate,
            "action": notice.approval.action,
            "service": notice.approval.service,
            "rule": notice.approval.rule,
            "hash": notice.approval.token,
        }
    body["payload"] = {
        "summary": notice.headline[:1024],
        "source": "incident-commander",
        "severity": _SEVERITY.get(notice.facts.severity or "", "error"),
        "component": notice.facts.services[0] if notice.facts.services else None,
        "class": notice.event,
        "custom_details": details,
    }
    body["client"] = "Incident commander"
    if notice.link:
        body["client_url"] = notice.link
        body["links"] = [{"href": notice.link, "text": "The incident in the commander"}]
    return body
