"""What a good run of a scenario is, derived from the format spec's tables alone. Pure.

The oracle reads a scenario's services and events and answers with the ``expect`` block a good
incident commander must meet. Every rule cites a section of ``shared/spec/scenario-format.md``
("Event kinds", "Actions", "Services", the ``protected`` field) and is documented in
``docs/scenarios.md``. It never looks at what the commander does: it is not tuned to pass.

Where format v1 cannot say what a good run is (several independent root causes, each with a
fix that must run), the oracle writes the compatible extension ``expect.root_causes``
(docs/scenarios.md), which a v1 runner loads with a warning and ignores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from services.scenario.model import (
    ActionKind,
    ConnectionExhaustion,
    CostRunaway,
    DiskFull,
    Event,
    FaultKind,
    MemoryLeak,
    Scenario,
    ServiceKind,
)

A = ActionKind
ALL_KINDS = frozenset(ServiceKind)

FIXES: dict[FaultKind, frozenset[ActionKind]] = {
    # spec "Services": load above capacity raises CPU; "more tasks lower CPU per task".
    FaultKind.CPU_SATURATION: frozenset({A.SCALE_OUT}),
    FaultKind.TRAFFIC_SPIKE: frozenset({A.SCALE_OUT}),
    # "a restart clears leaked memory".
    FaultKind.MEMORY_LEAK: frozenset({A.RESTART_SERVICE}),
    # "a rollback restores the previous revision's behaviour".
    FaultKind.BAD_DEPLOY: frozenset({A.ROLLBACK_DEPLOYMENT}),
    # the database itself is slow or full of connections: restart it, or fail over.
    FaultKind.DEPENDENCY_LATENCY: frozenset({A.REBOOT_DATABASE, A.FAILOVER_DATABASE}),
    FaultKind.CONNECTION_EXHAUSTION: frozenset({A.REBOOT_DATABASE, A.FAILOVER_DATABASE}),
    # "free storage falls to zero": ModifyDBInstance AllocatedStorage.
    FaultKind.DISK_FULL: frozenset({A.INCREASE_STORAGE}),
    # "credential-compromise acts on that user's key": UpdateAccessKey Status=Inactive.
    FaultKind.CREDENTIAL_COMPROMISE: frozenset({A.DEACTIVATE_ACCESS_KEY}),
    FaultKind.INSTANCE_COMPROMISE: frozenset({A.ISOLATE_INSTANCE}),
    FaultKind.SECURITY_GROUP_EXPOSURE: frozenset({A.REVOKE_INGRESS_RULE}),
    # "capacity climbs to the maximum with no rise in load": give it back.
    FaultKind.COST_RUNAWAY: frozenset({A.SCALE_IN}),
}
"""Spec "Event kinds" x "Actions": the actions whose AWS call addresses each fault's cause."""

ACTS_ON: dict[ActionKind, frozenset[ServiceKind]] = {
    A.SCALE_OUT: frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA}),
    A.SCALE_IN: frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA}),
    A.ROLLBACK_DEPLOYMENT: frozenset(
        {ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA}
    ),
    A.RESTART_SERVICE: frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG}),
    A.REBOOT_DATABASE: frozenset({ServiceKind.RDS}),
    A.FAILOVER_DATABASE: frozenset({ServiceKind.RDS}),
    A.INCREASE_STORAGE: frozenset({ServiceKind.RDS}),
    A.DEACTIVATE_ACCESS_KEY: ALL_KINDS,  # "every service also gets an IAM user"
    A.ISOLATE_INSTANCE: ALL_KINDS,  # "for other kinds, on the first instance or task host"
    A.REVOKE_INGRESS_RULE: ALL_KINDS,  # "and a security group of its own"
    A.NOTIFY: ALL_KINDS,
    A.ESCALATE: ALL_KINDS,
}
"""Spec "Actions": the service kinds whose AWS resources each action's call exists for."""

DESTRUCTIVE = frozenset(
    {A.SCALE_IN, A.RESTART_SERVICE, A.REBOOT_DATABASE, A.FAILOVER_DATABASE, A.ISOLATE_INSTANCE}
)
"""Actions that stop, restart or take away running capacity; on a ``protected`` service they
"must never auto-run" (spec, ``protected``). Adding capacity or storage, rolling back to the
previous revision, and cutting an attacker's access path (key, ingress rule) are not."""

HARMFUL = frozenset(
    {
        A.SCALE_IN,
        A.REBOOT_DATABASE,
        A.FAILOVER_DATABASE,
        A.ISOLATE_INSTANCE,
        A.DEACTIVATE_ACCESS_KEY,
    }
)
"""Actions that hurt a healthy estate: fewer servers, a database restarted, an instance cut off,
a service's deploy key disabled. Forbidden in any scenario where no fault calls for them."""

CHANGES = frozenset(set(ActionKind) - {A.NOTIFY, A.ESCALATE})
"""Every action that changes AWS; a noise-only scenario forbids them all (spec: "must not act")."""

SECURITY = frozenset(
    {
        FaultKind.CREDENTIAL_COMPROMISE,
        FaultKind.INSTANCE_COMPROMISE,
        FaultKind.SECURITY_GROUP_EXPOSURE,
    }
)

DETECT_S = 180
"""Time to detect a fault whose effect is immediate: three one-minute CloudWatch periods."""
FIX_S = 600
"""Time to act and settle once detected: the library's 10 minutes."""
APPROVAL_S = 120
"""The simulated person answers two simulated minutes after being asked (spec, ``--approve``)."""

Approval = Literal["auto", "required"]


@dataclass(frozen=True, slots=True)
class Cause:
    """One fault of the scenario: a root cause a good commander must name."""

    service: str
    fault: FaultKind
    at_s: int
    fixes: frozenset[ActionKind]
    """Actions that address it on this service's kind; empty: no action in the vocabulary does."""
    approval: Approval | None
    detect_s: int
    """From its onset to when its effect is plain to see, plus detection."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The good run of a scenario: ``expect`` as v1 writes it, plus what v1 cannot state."""

    incident: bool
    causes: tuple[Cause, ...]
    """Every fault, in the order a good run confirms them (onset plus detection time): the
    runner judges ``root_cause`` against the first incident confirmed."""
    forbidden: frozenset[ActionKind]
    detect_within_s: int | None
    recovered_within_s: int | None

    @property
    def escalate(self) -> bool:
        """Some cause has no remedy in the vocabulary: the right decision is a person."""
        return any(not cause.fixes for cause in self.causes)

    @property
    def needed(self) -> frozenset[ActionKind]:
        """Every action that addresses some cause of the scenario."""
        return frozenset(a for cause in self.causes for a in cause.fixes)

    @property
    def approval(self) -> Approval | None:
        answers = {cause.approval for cause in self.causes}
        if "required" in answers:
            return "required"  # asked at least once is right
        return "auto" if answers == {"auto"} else None

    def expect(self) -> dict[str, Any]:
        """The ``expect`` block, format v1, as a YAML-ready mapping."""
        if not self.incident:
            return {"incident": False, "remediation": {"forbidden": _names(self.forbidden)}}
        first = self.causes[0]
        remediation: dict[str, Any] = {"any_of": _remedy(first)}
        remediation["forbidden"] = _names(self.forbidden)
        if self.approval is not None:
            remediation["approval"] = self.approval
        block: dict[str, Any] = {
            "incident": True,
            "detect_within": _minutes(self.detect_within_s),
            "root_cause": {"service": first.service, "fault": first.fault.value},
            "remediation": remediation,
        }
        distinct = {(c.service, c.fault): c for c in reversed(self.causes)}  # a recurrence is one
        if len(distinct) > 1:
            block["root_causes"] = [
                {"service": c.service, "fault": c.fault.value, "any_of": _remedy(c)}
                for c in sorted(distinct.values(), key=self.causes.index)
            ]
        if self.recovered_within_s is not None:
            block["recovered_within"] = _minutes(self.recovered_within_s)
        return block


def fixes_for(fault: FaultKind, kind: ServiceKind) -> frozenset[ActionKind]:
    """Actions addressing ``fault`` whose AWS call exists for a ``kind`` service."""
    return frozenset(a for a in FIXES[fault] if kind in ACTS_ON[a])


def approval_for(fixes: Iterable[ActionKind], protected: bool) -> Approval | None:
    """``required`` when every fix is destructive on a protected service, ``auto`` when the
    service is not protected, None when the spec does not decide (protected, not destructive)."""
    chosen = frozenset(fixes)
    if not chosen:
        return None
    if protected and chosen <= DESTRUCTIVE:
        return "required"
    return None if protected else "auto"


def detect_seconds(event: Event, scenario: Scenario) -> int:
    """Onset to detection: immediate faults 3 min; ramps once their harm is complete."""
    step = scenario.step
    if isinstance(event, ConnectionExhaustion | DiskFull | CostRunaway):
        return event.params.over + DETECT_S
    if isinstance(event, MemoryLeak):
        memory = scenario.service(event.target).baseline.memory or 50.0
        steps_to_oom = math.ceil((100.0 - memory) / event.params.rate)
        return steps_to_oom * step + DETECT_S
    return DETECT_S


def judge(scenario: Scenario) -> Verdict:
    """The good run of ``scenario`` by the spec's tables (its own ``expect`` is ignored)."""
    services = {s.name: s for s in scenario.services}
    faults = sorted(scenario.faults, key=lambda e: e.at)
    if not faults:
        return Verdict(False, (), CHANGES, None, None)
    causes = []
    for event in faults:
        target = services[event.target]
        fixes = fixes_for(FaultKind(event.kind), target.kind)
        causes.append(
            Cause(
                service=target.name,
                fault=FaultKind(event.kind),
                at_s=event.at,
                fixes=fixes,
                approval=approval_for(fixes, target.protected),
                detect_s=detect_seconds(event, scenario),
            )
        )
    causes.sort(key=lambda c: (c.at_s + c.detect_s, c.at_s))  # the first a good run confirms
    needed = frozenset(a for cause in causes for a in cause.fixes)
    forbidden = set(HARMFUL - needed)
    kinds = {cause.fault for cause in causes}
    if FaultKind.COST_RUNAWAY in kinds and A.SCALE_OUT not in needed:
        forbidden.add(A.SCALE_OUT)  # more capacity is the harm itself
    deploys = any(event.kind == "deploy" for event in scenario.events)
    if deploys and A.ROLLBACK_DEPLOYMENT not in needed:
        forbidden.add(A.ROLLBACK_DEPLOYMENT)  # the harmless deploy is a red herring
    onset = min(cause.at_s for cause in causes)  # the spec times both from the first onset
    detect = min(cause.at_s - onset + cause.detect_s for cause in causes)
    recovered: int | None = None
    if all(cause.fixes for cause in causes):
        recovered = max(
            cause.at_s
            - onset
            + cause.detect_s
            + FIX_S
            + (APPROVAL_S if cause.approval == "required" else 0)
            for cause in causes
        )
    return Verdict(True, tuple(causes), frozenset(forbidden), detect, recovered)


def _remedy(cause: Cause) -> list[str]:
    """The actions of which one a good run takes for ``cause``: one that addresses it, or
    where none in the vocabulary does, a page to a person (spec "Actions": escalate)."""
    return _names(cause.fixes or {A.ESCALATE})


def _names(actions: Iterable[ActionKind]) -> list[str]:
    return sorted(a.value for a in actions)


def _minutes(seconds: int | None) -> str:
    assert seconds is not None
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
