"""Scenario file format, version 1 (``shared/spec/scenario-format.md``), as pydantic models.

The top level rejects unknown keys; nested objects accept unknown keys so that files written for
a later revision of the format still run, and the loader reports each such key as a warning.
Durations are held as whole seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smh])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(value: object) -> int:
    """Seconds in ``value``: a number of seconds, or text such as ``90s``, ``40m``, ``1h30m``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 90s, 40m, 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if not text:
            raise ValueError("empty duration")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ValueError(
                    f"{value!r} is not a duration: use a number with a unit s, m or h "
                    "(for example 90s, 40m, 1h30m)"
                )
            seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError("a duration is a number of seconds or text like 90s, 40m, 1h")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds != int(seconds):
        raise ValueError(f"{value!r}: durations are whole seconds")
    return int(seconds)


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""A duration in whole seconds, written in files as ``90s``, ``40m``, ``1h`` or a number."""

Percent = Annotated[float, Field(ge=0, le=100)]


class _Open(BaseModel):
    """Nested object: unknown keys are kept (and reported as warnings by the loader)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class ServiceKind(StrEnum):
    ECS_SERVICE = "ecs-service"
    ASG = "asg"
    RDS = "rds"
    LAMBDA = "lambda"


class Tier(StrEnum):
    CRITICAL = "critical"
    IMPORTANT = "important"
    SUPPORTING = "supporting"


DOWNTIME_COST_PER_MIN: dict[Tier, float] = {
    Tier.CRITICAL: 10_000.0,
    Tier.IMPORTANT: 1_000.0,
    Tier.SUPPORTING: 100.0,
}
"""USD per minute of SLO breach, by tier, unless a service sets ``downtime_cost_per_min``."""


class Seasonality(StrEnum):
    NONE = "none"
    DAILY = "daily"


class ActionKind(StrEnum):
    """The remediation vocabulary of the spec's catalogue."""

    SCALE_OUT = "scale-out"
    SCALE_IN = "scale-in"
    ROLLBACK_DEPLOYMENT = "rollback-deployment"
    RESTART_SERVICE = "restart-service"
    REBOOT_DATABASE = "reboot-database"
    FAILOVER_DATABASE = "failover-database"
    INCREASE_STORAGE = "increase-storage"
    DEACTIVATE_ACCESS_KEY = "deactivate-access-key"
    ISOLATE_INSTANCE = "isolate-instance"
    REVOKE_INGRESS_RULE = "revoke-ingress-rule"
    NOTIFY = "notify"
    ESCALATE = "escalate"


class FaultKind(StrEnum):
    CPU_SATURATION = "cpu-saturation"
    TRAFFIC_SPIKE = "traffic-spike"
    MEMORY_LEAK = "memory-leak"
    BAD_DEPLOY = "bad-deploy"
    DEPENDENCY_LATENCY = "dependency-latency"
    CONNECTION_EXHAUSTION = "connection-exhaustion"
    DISK_FULL = "disk-full"
    CREDENTIAL_COMPROMISE = "credential-compromise"
    INSTANCE_COMPROMISE = "instance-compromise"
    SECURITY_GROUP_EXPOSURE = "security-group-exposure"
    COST_RUNAWAY = "cost-runaway"


class NoiseKind(StrEnum):
    DEPLOY = "deploy"
    TRANSIENT_SPIKE = "transient-spike"
    FLAPPING_ALERT = "flapping-alert"


class Baseline(_Open):
    """Healthy values of a service. Units: percent, milliseconds, requests per second, GiB."""

    rps: float | None = Field(default=None, ge=0)
    cpu: Percent | None = None
    memory: Percent | None = None
    latency_ms: float | None = Field(default=None, gt=0)
    error_rate: Percent | None = None
    connections: float | None = Field(default=None, ge=0)
    max_connections: int | None = Field(default=None, gt=0)
    free_storage_gib: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _connections_fit(self) -> Baseline:
        if (
            self.connections is not None
            and self.max_connections is not None
            and self.connections > self.max_connections
        ):
            raise ValueError("connections cannot exceed max_connections")
        return self


class Service(_Open):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$",
        description="lower-case letters, digits and hyphens; at most 32 characters",
    )
    kind: ServiceKind
    tier: Tier = Tier.IMPORTANT
    depends_on: list[str] = Field(default_factory=list)
    capacity: int | None = Field(default=None, ge=1, le=10_000)
    max_capacity: int | None = Field(default=None, ge=1, le=10_000)
    unit_cost_per_hour: float | None = Field(default=None, ge=0)
    baseline: Baseline = Field(default_factory=Baseline)
    noise: float = Field(default=0.02, ge=0, le=1)
    seasonality: Seasonality = Seasonality.NONE
    protected: bool = False
    downtime_cost_per_min: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _capacity_fits_kind(self) -> Service:
        if (
            self.max_capacity is not None
            and self.capacity is not None
            and self.max_capacity < self.capacity
        ):
            raise ValueError("max_capacity cannot be below capacity")
        return self

    @property
    def cost_per_min_of_downtime(self) -> float:
        if self.downtime_cost_per_min is not None:
            return self.downtime_cost_per_min
        return DOWNTIME_COST_PER_MIN[self.tier]


# --- event parameters -------------------------------------------------------------------------


class _Params(_Open):
    duration: Duration | None = Field(
        default=None, description="how long the event lasts; unset: until remediated"
    )


class CpuSaturationParams(_Params):
    factor: float = Field(default=3.0, gt=1, description="CPU cost per request multiplier")


class TrafficSpikeParams(_Params):
    factor: float = Field(default=4.0, gt=0)
    malicious: bool = False
    sources: int = Field(default=3, ge=1, description="distinct client addresses when malicious")


class MemoryLeakParams(_Params):
    rate: float = Field(default=2.0, gt=0, le=100, description="memory percent gained a step")


class BadDeployParams(_Params):
    error_rate: Percent | None = Field(default=None, description="percent of requests failing")
    latency_factor: float = Field(default=1.0, ge=1)

    @property
    def effective_error_rate(self) -> float:
        """Failing requests in percent; 15 % unless the file says only latency rises."""
        if self.error_rate is not None:
            return self.error_rate
        return 0.0 if self.latency_factor > 1 else 15.0


class DependencyLatencyParams(_Params):
    factor: float = Field(default=5.0, gt=1)


class ConnectionExhaustionParams(_Params):
    over: Duration = Field(default=300, description="time for connections to reach the maximum")


class DiskFullParams(_Params):
    over: Duration = Field(default=600)


class CredentialCompromiseParams(_Params):
    finding_type: str = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    source_ip: str = "198.51.100.23"


class InstanceCompromiseParams(_Params):
    finding_type: str = "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    cpu: Percent = Field(default=95.0, description="CPU of the compromised instance")


class SecurityGroupExposureParams(_Params):
    port: int = Field(default=22, ge=0, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    cidr: str = "0.0.0.0/0"


class CostRunawayParams(_Params):
    over: Duration = Field(default=600, description="time for capacity to reach the maximum")


class DeployParams(_Params):
    pass


class TransientSpikeParams(_Params):
    metric: Literal["latency", "errors", "cpu", "rps"] = "latency"
    factor: float = Field(default=3.0, gt=0)


class FlappingAlertParams(_Params):
    metric: Literal["latency", "errors", "cpu"] = "latency"
    period: Duration | None = Field(default=None, description="time between toggles; one step")


# --- events -----------------------------------------------------------------------------------


class _Event(_Open):
    at: Duration
    target: str


class CpuSaturation(_Event):
    kind: Literal["cpu-saturation"]
    params: CpuSaturationParams = Field(default_factory=CpuSaturationParams)


class TrafficSpike(_Event):
    kind: Literal["traffic-spike"]
    params: TrafficSpikeParams = Field(default_factory=TrafficSpikeParams)


class MemoryLeak(_Event):
    kind: Literal["memory-leak"]
    params: MemoryLeakParams = Field(default_factory=MemoryLeakParams)


class BadDeploy(_Event):
    kind: Literal["bad-deploy"]
    params: BadDeployParams = Field(default_factory=BadDeployParams)


class DependencyLatency(_Event):
    kind: Literal["dependency-latency"]
    params: DependencyLatencyParams = Field(default_factory=DependencyLatencyParams)


class ConnectionExhaustion(_Event):
    kind: Literal["connection-exhaustion"]
    params: ConnectionExhaustionParams = Field(default_factory=ConnectionExhaustionParams)


class DiskFull(_Event):
    kind: Literal["disk-full"]
    params: DiskFullParams = Field(default_factory=DiskFullParams)


class CredentialCompromise(_Event):
    kind: Literal["credential-compromise"]
    params: CredentialCompromiseParams = Field(default_factory=CredentialCompromiseParams)


class InstanceCompromise(_Event):
    kind: Literal["instance-compromise"]
    params: InstanceCompromiseParams = Field(default_factory=InstanceCompromiseParams)


class SecurityGroupExposure(_Event):
    kind: Literal["security-group-exposure"]
    params: SecurityGroupExposureParams = Field(default_factory=SecurityGroupExposureParams)


class CostRunaway(_Event):
    kind: Literal["cost-runaway"]
    params: CostRunawayParams = Field(default_factory=CostRunawayParams)


class Deploy(_Event):
    kind: Literal["deploy"]
    params: DeployParams = Field(default_factory=DeployParams)


class TransientSpike(_Event):
    kind: Literal["transient-spike"]
    params: TransientSpikeParams = Field(default_factory=TransientSpikeParams)


class FlappingAlert(_Event):
    kind: Literal["flapping-alert"]
    params: FlappingAlertParams = Field(default_factory=FlappingAlertParams)


Event = Annotated[
    CpuSaturation
    | TrafficSpike
    | MemoryLeak
    | BadDeploy
    | DependencyLatency
    | ConnectionExhaustion
    | DiskFull
    | CredentialCompromise
    | InstanceCompromise
    | SecurityGroupExposure
    | CostRunaway
    | Deploy
    | TransientSpike
    | FlappingAlert,
    Field(discriminator="kind"),
]

FAULT_TARGET_KINDS: dict[str, frozenset[ServiceKind]] = {
    "memory-leak": frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG}),
    "bad-deploy": frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA}),
    "deploy": frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA}),
    "connection-exhaustion": frozenset({ServiceKind.RDS}),
    "disk-full": frozenset({ServiceKind.RDS}),
    "traffic-spike": frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA}),
    "cost-runaway": frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA}),
}
"""Event kinds that only make sense on some service kinds; the others apply to any kind."""

FLAPPABLE: dict[ServiceKind, frozenset[str]] = {
    ServiceKind.ECS_SERVICE: frozenset({"latency", "errors", "cpu"}),
    ServiceKind.ASG: frozenset({"latency", "errors", "cpu"}),
    ServiceKind.RDS: frozenset({"latency", "cpu"}),
    ServiceKind.LAMBDA: frozenset({"latency", "errors"}),
}
"""The SLO alarms each kind has, by the metric a flapping-alert names."""


# --- expectations -----------------------------------------------------------------------------


class RootCause(_Open):
    service: str
    fault: FaultKind


class ExpectedCause(RootCause):
    """One of several independent root causes (``expect.root_causes``, an extension of v1:
    docs/scenarios.md); ``any_of``: actions of which one must be executed for it."""

    any_of: list[ActionKind] = Field(default_factory=list)


class Remediation(_Open):
    any_of: list[ActionKind] = Field(default_factory=list)
    forbidden: list[ActionKind] = Field(default_factory=list)
    approval: Literal["auto", "required"] | None = None

    @model_validator(mode="after")
    def _no_overlap(self) -> Remediation:
        both = sorted(set(self.any_of) & set(self.forbidden))
        if both:
            raise ValueError(f"actions both acceptable and forbidden: {', '.join(both)}")
        return self


class Expect(_Open):
    incident: bool | None = None
    detect_within: Duration | None = None
    root_cause: RootCause | None = None
    root_causes: list[ExpectedCause] | None = None
    """Every independent root cause, each to be the top cause of some confirmed incident (an
    extension of v1: docs/scenarios.md); with it, ``root_cause`` is judged the same way
    instead of against the first incident only, so the causes may be confirmed in any order."""
    remediation: Remediation | None = None
    recovered_within: Duration | None = None


# --- the file ---------------------------------------------------------------------------------


class FieldProblemsError(ValueError):
    """Cross-field problems, each written ``field.path: message``, kept apart for reporting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Scenario(BaseModel):
    """One scenario file. Unknown top-level keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
    description: str = ""
    seed: StrictInt = 0
    duration: Duration
    step: Duration = 60
    services: list[Service] = Field(min_length=1, max_length=2000)
    """The spec sets no limit; 2,000 guards memory against a runaway file and holds any
    estate a team runs (the storm benchmark builds 500)."""
    events: list[Event] = Field(default_factory=list)
    expect: Expect | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[str] = []
        if self.step < 1:
            problems.append("step: must be at least 1s")
        elif self.duration < self.step:
            problems.append("duration: must be at least one step")
        elif self.duration // self.step > 10_000:
            problems.append("duration: more than 10,000 steps; use a longer step")
        names = [service.name for service in self.services]
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                problems.append(f"services[{index}].name: {name!r} is used twice")
            seen.add(name)
        for index, service in enumerate(self.services):
            for dep in service.depends_on:
                if dep not in seen:
                    problems.append(
                        f"services[{index}].depends_on: {dep!r} is not a service of this file"
                    )
                elif dep == service.name:
                    problems.append(f"services[{index}].depends_on: a service cannot need itself")
        cycle = find_cycle(
            {s.name: [d for d in s.depends_on if d in seen and d != s.name] for s in self.services}
        )
        if cycle:
            problems.append(f"services: dependency cycle {' -> '.join(cycle)}")
        kinds = {service.name: service.kind for service in self.services}
        for index, event in enumerate(self.events):
            where = f"events[{index}]"
            if event.target not in kinds:
                problems.append(f"{where}.target: {event.target!r} is not a service of this file")
                continue
            allowed = FAULT_TARGET_KINDS.get(event.kind)
            if allowed is not None and kinds[event.target] not in allowed:
                problems.append(
                    f"{where}.kind: {event.kind} cannot target {event.target!r}, "
                    f"a {kinds[event.target]} service "
                    f"(it applies to {', '.join(sorted(allowed))})"
                )
            if isinstance(event, FlappingAlert):
                has = FLAPPABLE[kinds[event.target]]
                if event.params.metric not in has:
                    problems.append(
                        f"{where}.params.metric: a {kinds[event.target]} service has no "
                        f"{event.params.metric} alarm to flap (it has: {', '.join(sorted(has))})"
                    )
            if event.at >= self.duration:
                problems.append(f"{where}.at: {event.at}s is not before the end ({self.duration}s)")
        named: list[tuple[str, RootCause]] = []
        if self.expect is not None:
            if self.expect.root_cause is not None:
                named.append(("expect.root_cause", self.expect.root_cause))
            for index, each in enumerate(self.expect.root_causes or []):
                named.append((f"expect.root_causes[{index}]", each))
        for where, cause in named:
            if cause.service not in kinds:
                problems.append(f"{where}.service: {cause.service!r} is not a service of this file")
        if problems:
            raise FieldProblemsError(problems)
        return self

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    @property
    def steps(self) -> int:
        return self.duration // self.step

    @property
    def faults(self) -> list[Event]:
        """Events that are faults, in file order (noise excluded)."""
        fault_kinds = {kind.value for kind in FaultKind}
        return [event for event in self.events if event.kind in fault_kinds]


def find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """A dependency cycle in ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in graph:
        if start not in state and (found := visit(start)):
            return found
    return None
