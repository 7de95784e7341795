"""Which incident an alert belongs to: pure functions of the alert, the incidents the commander
tracks and the estate's dependency graph.

An alert joins an incident when it repeats one of the incident's alerts (while the incident is
live, or within ``NOISE_SUPPRESSION_STEPS`` of its being closed as noise: a flapping alarm), or
when it arrives within ``WINDOW_STEPS`` of the incident's opening, is of the same kind (security
finding or not) and is about a related service. Before diagnosis any connected service is
related (the root cause is not known yet); after it, the incident's services and those that
depend on them (degradation travels up to callers, so their alerts are symptoms of the same
cause).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.state import Alert

WINDOW_STEPS = 15
NOISE_SUPPRESSION_STEPS = 15


@dataclass(slots=True)
class Tracked:
    """What the commander keeps of one incident between runs of its thread."""

    id: str
    services: set[str]
    opened_step: int
    fingerprints: set[str] = field(default_factory=set)
    waiting: dict[str, Any] | None = None
    security: bool = False
    diagnosed: bool = False
    counted: dict[str, int] = field(default_factory=dict)
    """How many votes, decisions and actions of this thread the metrics have seen."""
    journaled: dict[str, int] = field(default_factory=dict)
    """How far into each of this thread's lists the audit trail has been written."""
    finished: bool = False
    status: str = "open"
    last_alert_step: int = 0
    """The step of its last alert while it was open: a noise incident suppresses repeats of its
    alerts for ``NOISE_SUPPRESSION_STEPS`` from then, however often they repeat, so a real fault
    that starts soon after a false alarm on the same metric waits out the window at most."""
    resolved_alerts: set[str] = field(default_factory=set)
    acknowledged_by: str | None = None


def correlate(
    alert: Alert, incidents: Iterable[Tracked], depends_on: Mapping[str, Iterable[str]]
) -> Tracked | None:
    """The incident ``alert`` belongs to, or None when it starts a new one."""
    step = alert["step"]
    for incident in incidents:
        # An escalated incident is still live: a person owns it, so related alerts join it.
        live = not incident.finished or incident.status == "escalated"
        repeat = alert["fingerprint"] in incident.fingerprints
        recent_noise = (
            incident.status == "noise" and step - incident.last_alert_step < NOISE_SUPPRESSION_STEPS
        )
        if repeat and (live or recent_noise):
            return incident
        in_window = step - incident.opened_step <= WINDOW_STEPS
        if live and in_window and _belongs(alert, incident, depends_on):
            return incident
    return None


def _belongs(alert: Alert, incident: Tracked, depends_on: Mapping[str, Iterable[str]]) -> bool:
    if (alert["fault_hint"] is not None) != incident.security:
        return False
    service = alert["service"]
    if incident.diagnosed:
        return bool({service, *reachable(service, depends_on)} & incident.services)
    return bool(incident.services & neighbours(service, depends_on))


def neighbours(service: str, depends_on: Mapping[str, Iterable[str]]) -> set[str]:
    """Every service connected to ``service`` through dependencies, either way."""
    links: dict[str, set[str]] = {}
    for caller, needs in depends_on.items():
        for dep in needs:
            links.setdefault(caller, set()).add(dep)
            links.setdefault(dep, set()).add(caller)
    return {service} | reachable(service, links)


def reachable(start: str, links: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node reachable from ``start`` along ``links`` (``start`` itself only on a cycle)."""
    seen: set[str] = set()
    todo = list(links.get(start, []))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(links.get(name, []))
    return seen
