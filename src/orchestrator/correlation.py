"""Which incident an alert belongs to: pure functions of the alert, the incidents the commander
tracks and the estate's dependency graph.

An alert joins an incident when it repeats one of the incident's alerts (while the incident is
live, or within ``NOISE_SUPPRESSION_STEPS`` of its being closed as noise: a flapping alarm), or
when it arrives within ``WINDOW_STEPS`` of the incident's opening, is of the same kind (security
finding or not) and is about a related service. Before diagnosis a service is related to those
the incident's alerts named when they share something below (``related``: the root cause is not
known yet, but a fault in one part of the estate does not show in a part that shares nothing
with it, so two such alerts are two incidents); after it, the incident's services and those
that depend on them (degradation travels up to callers, so their alerts are symptoms of the
same cause).

An alert no service of the estate matches goes to triage instead (``triage_for``): it never
joins an incident of the estate, and no alert of the estate joins a triage incident. It joins
the live triage incident that already holds it (a repeat), else the live one of its group
opened within ``WINDOW_STEPS``, else it opens one. Its group is its source and the service it
names, if any: a burst of alerts that one monitoring system sends about one service the estate
does not know is one page for a person, not one per alert, while alerts about two unknown
services (two owners, most likely) or from two systems are not buried under each other's
title.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.state import Alert

WINDOW_STEPS = 15
NOISE_SUPPRESSION_STEPS = 15

TriageGroup = tuple[str, str | None]
"""An unrouted alert's source and the service it names (None: it names none)."""


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
    alerted: set[str] = field(default_factory=set)
    """The services its alerts named: before diagnosis an alert joins when it is related to
    one of them (``related``)."""
    acknowledged_by: str | None = None
    triage: TriageGroup | None = None
    """The group of a triage incident's alerts; None for an incident of the estate."""

    @property
    def live(self) -> bool:
        """Alerts may still join it and it may still be resolved: it has not finished, or it
        was escalated (a person owns it now; their fix, or its alerts resolving, ends it)."""
        return not self.finished or self.status == "escalated"


def correlate(
    alert: Alert, incidents: Iterable[Tracked], depends_on: Mapping[str, Iterable[str]]
) -> Tracked | None:
    """The incident ``alert`` belongs to, or None when it starts a new one."""
    step = alert["step"]
    near = related(alert["service"], depends_on)  # once per alert, not per incident
    for incident in incidents:
        if incident.triage is not None:
            continue
        live = incident.live  # escalated too: a person owns it, so related alerts join it
        repeat = alert["fingerprint"] in incident.fingerprints
        recent_noise = (
            incident.status == "noise" and step - incident.last_alert_step < NOISE_SUPPRESSION_STEPS
        )
        if repeat and (live or recent_noise):
            return incident
        in_window = step - incident.opened_step <= WINDOW_STEPS
        if live and in_window and _belongs(alert, incident, depends_on, near):
            return incident
    return None


def triage_group(alert: Alert) -> TriageGroup:
    named = alert["details"].get("service")
    return alert["source"], str(named) if named else None


def triage_for(alert: Alert, incidents: Iterable[Tracked]) -> Tracked | None:
    """The triage incident an alert no service of the estate matches joins, or None when it
    opens one (see the module docstring)."""
    live = [i for i in incidents if i.triage is not None and i.live]
    repeat = next((i for i in live if alert["fingerprint"] in i.fingerprints), None)
    if repeat is not None:
        return repeat
    group = triage_group(alert)
    in_window = [
        i for i in live if i.triage == group and alert["step"] - i.opened_step <= WINDOW_STEPS
    ]
    return max(in_window, key=lambda i: i.opened_step, default=None)


def _belongs(
    alert: Alert, incident: Tracked, depends_on: Mapping[str, Iterable[str]], near: set[str]
) -> bool:
    """``near``: the services related to the alert's (``related``)."""
    if (alert["fault_hint"] is not None) != incident.security:
        return False
    service = alert["service"]
    if incident.diagnosed:
        return bool({service, *reachable(service, depends_on)} & incident.services)
    return bool((incident.alerted or incident.services) & near)


def related(service: str, depends_on: Mapping[str, Iterable[str]]) -> set[str]:
    """The services that share something below with ``service``: itself, what it depends on,
    and every caller of those. A fault in one of them can show on ``service`` (a dependency's
    failure travels up; a caller's load reaches a dependency they share), or the other way
    round. Two services that share nothing below are unrelated parts of the estate: alerts
    about both at once are two faults, not one."""
    below = {service} | reachable(service, depends_on)
    callers = callers_of(depends_on)
    out = set(below)
    for name in below:
        out |= reachable(name, callers)
    return out


def callers_of(depends_on: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """The dependency map turned round: service -> the services that call it directly."""
    callers: dict[str, set[str]] = {}
    for caller, needs in depends_on.items():
        for dep in needs:
            callers.setdefault(dep, set()).add(caller)
    return callers


def scope(services: Iterable[str], depends_on: Mapping[str, Iterable[str]]) -> set[str]:
    """Where the cause of alerts about ``services`` can be: every service related to one."""
    out: set[str] = set()
    for service in services:
        out |= related(service, depends_on)
    return out


def downstream(service: str, depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """The services ``service``'s requests reach: its dependencies, transitively, nearest first
    (breadth first, each once, in the estate's order within a level)."""
    out: list[str] = []
    seen = {service}
    level = [service]
    while level:
        following: list[str] = []
        for name in level:
            for dep in depends_on.get(name, []):
                if dep not in seen:
                    seen.add(dep)
                    out.append(dep)
                    following.append(dep)
        level = following
    return out


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
