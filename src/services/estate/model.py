"""The estate file (``estate.yaml``), version 1, as pydantic models: the services of an estate
the commander did not build, the AWS resources behind each, and how alerts are routed to them.

Written by hand or by ``incident-commander estate discover`` (then reviewed by a person), read
by ``serve``, ``worker`` and ``watch`` in account and LocalStack modes. ``docs/estate.md``
describes every field; ``docs/estate.schema.json`` is the JSON Schema generated from these
models (``incident-commander estate schema``). Unknown keys are errors at every level: a typo
in a file that decides what the commander may touch must never be ignored.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from services.scenario.model import Duration, ServiceKind, Tier

NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
"""Service and estate names: lower-case letters, digits and dashes."""
ServiceName = Annotated[str, StringConstraints(pattern=NAME)]
FileDuration = Annotated[
    Duration,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[smhSMH]\s*)+$"},
                {"type": "string", "pattern": r"^\s*\d+\s*$"},
            ]
        }
    ),
]
"""A duration as files write it: seconds, or ``90s``, ``40m``, ``1h30m``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Matcher(_Strict):
    """One alert route: an alert matching every condition given is about the service.

    Values are glob patterns (``*``, ``?``, ``[...]``), matched case-sensitively."""

    labels: dict[str, str] = Field(
        default_factory=dict,
        description="the alert's labels (Alertmanager, Grafana, generic, PagerDuty custom "
        "details; CloudWatch alarms carry alarm_name, namespace, metric_name and dimensions)",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Alertmanager or Grafana annotations"
    )
    dimensions: dict[str, str] = Field(
        default_factory=dict, description="a CloudWatch alarm's metric dimensions"
    )
    resource: str | None = Field(
        default=None,
        description="the resource the alert names: an alarm or finding ARN, an instance id, a host",
    )

    @model_validator(mode="after")
    def _tests_something(self) -> Matcher:
        if not (self.labels or self.annotations or self.dimensions or self.resource):
            raise ValueError(
                "a route needs at least one of labels, annotations, dimensions, resource "
                "(an empty route would match every alert)"
            )
        return self


class Slo(_Strict):
    """Service level objectives; breaching one counts as an anomaly whatever the baseline."""

    error_rate_percent: float | None = Field(default=None, ge=0, le=100)
    latency: float | None = Field(
        default=None,
        gt=0,
        description="in the latency metric's own unit: seconds for a load balancer's "
        "TargetResponseTime and an RDS ReadLatency, milliseconds for a Lambda Duration",
    )


class Capacity(_Strict):
    baseline: int | None = Field(
        default=None, ge=1, description="normal capacity; unset: what runs when serve starts"
    )
    max: int | None = Field(
        default=None, ge=1, description="never scale beyond; unset: an ASG's MaxSize, else 4x"
    )
    unit_cost_per_hour: float | None = Field(
        default=None, ge=0, description="USD per task, instance or unit of concurrency"
    )


class Resources(_Strict):
    """The AWS resources behind a service, by name, id or ARN. Which ones a kind needs:

    - ecs-service: ``ecs_cluster``, ``ecs_service`` (``target_group`` for request metrics);
    - asg: ``asg`` (the launch template and target group are read from the group);
    - rds: ``db_instance``;
    - lambda: ``function`` (``alias``, for rollbacks).
    """

    ecs_cluster: str | None = None
    ecs_service: str | None = None
    asg: str | None = None
    db_instance: str | None = None
    function: str | None = None
    alias: str | None = None
    target_group: str | None = Field(default=None, description="an ALB target group ARN or name")
    security_group: str | None = Field(default=None, description="the service's own group id")
    iam_user: str | None = Field(default=None, description="the user whose keys it deploys with")
    access_key_id: str | None = None
    log_group: str | None = None
    instance: str | None = Field(
        default=None, description="an EC2 instance that isolate-instance may act on"
    )
    alarms: list[str] = Field(
        default_factory=list,
        description="CloudWatch alarm names about the service; unset: the alarms on its metrics",
    )


_NEEDS: dict[ServiceKind, tuple[str, ...]] = {
    ServiceKind.ECS_SERVICE: ("ecs_cluster", "ecs_service"),
    ServiceKind.ASG: ("asg",),
    ServiceKind.RDS: ("db_instance",),
    ServiceKind.LAMBDA: ("function",),
}
_ONLY: dict[str, frozenset[ServiceKind]] = {
    "ecs_cluster": frozenset({ServiceKind.ECS_SERVICE}),
    "ecs_service": frozenset({ServiceKind.ECS_SERVICE}),
    "asg": frozenset({ServiceKind.ASG}),
    "db_instance": frozenset({ServiceKind.RDS}),
    "function": frozenset({ServiceKind.LAMBDA}),
    "alias": frozenset({ServiceKind.LAMBDA}),
    "target_group": frozenset({ServiceKind.ECS_SERVICE, ServiceKind.ASG}),
}


class ServiceSpec(_Strict):
    kind: ServiceKind
    tier: Tier = Tier.IMPORTANT
    downtime_cost_per_min: float | None = Field(
        default=None, ge=0, description="USD per minute of SLO breach; unset: by tier"
    )
    protected: bool = Field(
        default=False, description="destructive actions on it never run without a person"
    )
    depends_on: list[ServiceName] = Field(default_factory=list, description="services it calls")
    owners: list[str] = Field(default_factory=list, description="teams or people who own it")
    escalation: str | None = Field(default=None, description="who is paged when it escalates")
    slo: Slo | None = None
    capacity: Capacity = Field(default_factory=Capacity)
    resources: Resources
    routes: list[Matcher] = Field(
        default_factory=list,
        description="alert matchers; an alert naming the service or one of its resources is "
        "routed to it without one",
    )

    @model_validator(mode="after")
    def _resources_fit_the_kind(self) -> ServiceSpec:
        problems = [
            f"resources.{key}: an {self.kind.value} needs it"
            for key in _NEEDS[self.kind]
            if not getattr(self.resources, key)
        ]
        problems += [
            f"resources.{key}: not a resource of an {self.kind.value} "
            f"(only of {', '.join(sorted(k.value for k in kinds))})"
            for key, kinds in _ONLY.items()
            if getattr(self.resources, key) and self.kind not in kinds
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class EstateFile(_Strict):
    """An estate file, format version 1."""

    version: Literal[1]
    name: str = Field(pattern=NAME, description="the estate's name (IC_ESTATE in a cluster)")
    region: str | None = Field(default=None, description="unset: IC_AWS_REGION")
    period: FileDuration = Field(
        default=60,
        description="how often metrics are read and the commander's clock steps "
        "(CloudWatch's standard resolution is 60 s)",
    )
    quarantine_security_group: str | None = Field(
        default=None,
        description="a security group with no rules, for isolate-instance; unset: isolation "
        "is not applicable",
    )
    services: dict[ServiceName, ServiceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _period_is_usable(self) -> EstateFile:
        if not 1 <= self.period <= 3600:
            raise ValueError("period: between 1s and 1h")
        return self


def json_schema() -> str:
    """The JSON Schema of format version 1, as ``docs/estate.schema.json`` holds it (editors
    that read a ``$schema`` check and complete estate files with it)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema |= EstateFile.model_json_schema()
    return json.dumps(schema, indent=2) + "\n"
