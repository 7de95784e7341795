"""An estate file realised against AWS: every resource it names is looked up, what can be read
from the resources is read (an ECS service's task family, an ASG's launch template and target
group, a target group's load balancer, the alarms on a service's metrics, current capacity),
and the result is the commander's own ``Estate`` and catalogue, the same types a simulated
estate gives, so the agents cannot tell which they work on.

A resource that does not exist is an ``EstateFileError`` naming the file and the field, with
every other such problem found in the same pass; nothing starts on an estate that does not
check out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from services.aws.port import AwsPort
from services.aws.resources import (
    Estate,
    ServiceProfile,
    ServiceResources,
    metric_ids,
)
from services.errors import EstateFileError, ValidationIssue
from services.estate.load import routes_of
from services.estate.model import EstateFile, ServiceSpec
from services.scenario.model import DOWNTIME_COST_PER_MIN, ServiceKind

T = TypeVar("T")

UNIT_COST_PER_HOUR: dict[ServiceKind, float] = {
    ServiceKind.ECS_SERVICE: 0.05,  # a 0.5 vCPU / 1 GiB Fargate task, on demand
    ServiceKind.ASG: 0.10,  # an m6i.large, on demand
    ServiceKind.LAMBDA: 0.0,  # reserved concurrency itself costs nothing
    ServiceKind.RDS: 0.0,  # not scaled by the commander
}
"""Rough USD prices for FinOps when the file gives none; set ``capacity.unit_cost_per_hour``."""


@dataclass(frozen=True, slots=True)
class RealisedEstate:
    estate: Estate
    catalogue: dict[str, ServiceProfile]
    period_s: int


class _MissingError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def realise(port: AwsPort, spec: EstateFile, source: Path | str = "<estate>") -> RealisedEstate:
    """Look every resource of ``spec`` up through ``port``; ``EstateFileError`` lists each
    that is missing or unreadable."""
    if spec.region is not None and spec.region != port.region:
        raise EstateFileError(
            source,
            [
                ValidationIssue(
                    "region",
                    f"the estate is in {spec.region}, but the commander reaches {port.region}: "
                    f"set IC_AWS_REGION={spec.region}",
                )
            ],
        )
    issues: list[ValidationIssue] = []
    services: dict[str, ServiceResources] = {}
    catalogue: dict[str, ServiceProfile] = {}
    alarms = _alarms(port)
    for name, service in spec.services.items():
        where = f"services.{name}.resources"
        try:
            res, capacity, ceiling = _service(port, name, service, where)
            _extras(port, res, service, where)
        except _MissingError as missing:
            issues.append(ValidationIssue(missing.field, missing.message))
            continue
        named = service.resources.alarms
        unknown = [a for a in named if a not in alarms]
        if unknown:
            issues.append(
                ValidationIssue(f"{where}.alarms", f"no CloudWatch alarm named {unknown[0]!r}")
            )
        res.alarms = {a: a for a in named} if named else _alarms_on(res, alarms)
        services[name] = res
        catalogue[name] = _profile(name, service, capacity, ceiling)
    quarantine = spec.quarantine_security_group
    if quarantine is not None:
        try:
            _call(
                "quarantine_security_group",
                f"no security group {quarantine!r}",
                lambda: port.ec2.describe_security_groups(GroupIds=[quarantine]),
            )
        except _MissingError as missing:
            issues.append(ValidationIssue(missing.field, missing.message))
    if issues:
        raise EstateFileError(source, issues)
    estate = Estate(
        run_id=spec.name,
        prefix=spec.name,
        region=spec.region or port.region,
        services=services,
        depends_on={name: list(s.depends_on) for name, s in spec.services.items()},
        quarantine_security_group_id=quarantine,
        routes=routes_of(spec, source),
    )
    return RealisedEstate(estate, catalogue, spec.period)


def _service(
    port: AwsPort, name: str, spec: ServiceSpec, where: str
) -> tuple[ServiceResources, int, int | None]:
    """The service's resources, its current capacity, and the ceiling AWS sets (an ASG's)."""
    r = spec.resources
    res = ServiceResources(name=name, kind=spec.kind)
    ceiling: int | None = None
    if spec.kind is ServiceKind.ECS_SERVICE:
        cluster, service = r.ecs_cluster or "", r.ecs_service or ""
        found = _call(
            f"{where}.ecs_service",
            f"no ECS service {service!r} in cluster {cluster!r}",
            lambda: port.ecs.describe_services(cluster=cluster, services=[service]),
        )["services"]
        active = [s for s in found if s.get("status") == "ACTIVE"]
        if not active:
            raise _MissingError(
                f"{where}.ecs_service", f"no active ECS service {service!r} in cluster {cluster!r}"
            )
        res.cluster, res.ecs_service = cluster, active[0]["serviceName"]
        res.task_family = active[0]["taskDefinition"].rsplit("/", 1)[-1].rsplit(":", 1)[0]
        capacity = int(active[0]["desiredCount"])
        balancers = [lb["targetGroupArn"] for lb in active[0].get("loadBalancers", [])]
        _target_group(port, res, r.target_group or next(iter(balancers), None), where)
    elif spec.kind is ServiceKind.ASG:
        group_name = r.asg or ""
        groups = _call(
            f"{where}.asg",
            f"no Auto Scaling group {group_name!r}",
            lambda: port.autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[group_name]
            ),
        )["AutoScalingGroups"]
        if not groups:
            raise _MissingError(f"{where}.asg", f"no Auto Scaling group {group_name!r}")
        group = groups[0]
        res.asg_name = group_name
        res.launch_template_id = group.get("LaunchTemplate", {}).get("LaunchTemplateId")
        capacity, ceiling = int(group["DesiredCapacity"]), int(group["MaxSize"])
        attached = group.get("TargetGroupARNs", [])
        _target_group(port, res, r.target_group or next(iter(attached), None), where)
    elif spec.kind is ServiceKind.RDS:
        ident = r.db_instance or ""
        _call(
            f"{where}.db_instance",
            f"no RDS instance {ident!r}",
            lambda: port.rds.describe_db_instances(DBInstanceIdentifier=ident),
        )
        res.db_instance_id, capacity = ident, 1
    else:
        function = r.function or ""
        _call(
            f"{where}.function",
            f"no Lambda function {function!r}",
            lambda: port.lambda_.get_function(FunctionName=function),
        )
        res.function_name = function
        if r.alias:
            alias = r.alias
            _call(
                f"{where}.alias",
                f"function {function!r} has no alias {alias!r}",
                lambda: port.lambda_.get_alias(FunctionName=function, Name=alias),
            )
            res.alias = alias
        got = port.lambda_.get_function_concurrency(FunctionName=function)
        capacity = int(got.get("ReservedConcurrentExecutions", 0))
    return res, capacity, ceiling


def _target_group(port: AwsPort, res: ServiceResources, ref: str | None, where: str) -> None:
    """Set the target group's and its load balancer's metric dimensions (from an ARN or a
    name); nothing when there is no target group (the service has no request metrics)."""
    if ref is None:
        return
    kwargs: dict[str, Any] = (
        {"TargetGroupArns": [ref]} if ref.startswith("arn:") else {"Names": [ref]}
    )
    groups = _call(
        f"{where}.target_group",
        f"no target group {ref!r}",
        lambda: port.elbv2.describe_target_groups(**kwargs),
    )["TargetGroups"]
    if not groups:
        raise _MissingError(f"{where}.target_group", f"no target group {ref!r}")
    group = groups[0]
    if not group.get("LoadBalancerArns"):
        raise _MissingError(
            f"{where}.target_group",
            f"target group {ref!r} is attached to no load balancer: it has no request metrics",
        )
    res.target_group_dimension = group["TargetGroupArn"].split(":", 5)[5]
    res.load_balancer_dimension = group["LoadBalancerArns"][0].split(":", 5)[5].split("/", 1)[1]


def _extras(port: AwsPort, res: ServiceResources, spec: ServiceSpec, where: str) -> None:
    r = spec.resources
    if r.security_group:
        group = r.security_group
        _call(
            f"{where}.security_group",
            f"no security group {group!r}",
            lambda: port.ec2.describe_security_groups(GroupIds=[group]),
        )
        res.security_group_id = group
    if r.iam_user:
        user = r.iam_user
        keys = _call(
            f"{where}.iam_user",
            f"no IAM user {user!r}",
            lambda: port.iam.list_access_keys(UserName=user),
        )["AccessKeyMetadata"]
        res.iam_user = user
        if r.access_key_id and r.access_key_id not in {k["AccessKeyId"] for k in keys}:
            raise _MissingError(
                f"{where}.access_key_id", f"IAM user {user!r} has no key {r.access_key_id!r}"
            )
        res.access_key_id = r.access_key_id
    elif r.access_key_id:
        raise _MissingError(f"{where}.access_key_id", "name the iam_user the key belongs to")
    if r.log_group:
        group_name = r.log_group
        found = _call(
            f"{where}.log_group",
            f"no log group {group_name!r}",
            lambda: port.logs.describe_log_groups(logGroupNamePrefix=group_name),
        )["logGroups"]
        if group_name not in {g.get("logGroupName") for g in found}:
            raise _MissingError(f"{where}.log_group", f"no log group {group_name!r}")
        res.log_group = group_name
    if r.instance:
        instance = r.instance
        _call(
            f"{where}.instance",
            f"no EC2 instance {instance!r}",
            lambda: port.ec2.describe_instances(InstanceIds=[instance]),
        )
        res.host_instance_id = instance


def _alarms(port: AwsPort) -> dict[str, set[tuple[str, str, frozenset[tuple[str, str]]]]]:
    """Every metric alarm of the account by name, with the metrics it watches."""
    out: dict[str, set[tuple[str, str, frozenset[tuple[str, str]]]]] = {}
    for page in port.cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmTypes=["MetricAlarm"]
    ):
        for alarm in page.get("MetricAlarms", []):
            watched = out.setdefault(alarm["AlarmName"], set())
            if "MetricName" in alarm:
                watched.add(_metric(alarm))
            for query in alarm.get("Metrics", []):
                if "MetricStat" in query:
                    watched.add(_metric(query["MetricStat"]["Metric"]))
    return out


def _metric(m: Any) -> tuple[str, str, frozenset[tuple[str, str]]]:
    dims = frozenset((d["Name"], d["Value"]) for d in m.get("Dimensions", []))
    return m.get("Namespace", ""), m.get("MetricName", ""), dims


def _alarms_on(
    res: ServiceResources, alarms: dict[str, set[tuple[str, str, frozenset[tuple[str, str]]]]]
) -> dict[str, str]:
    """The alarms watching one of the service's metrics, by the metric's role (as
    ``ServiceResources.alarms`` holds them: role to alarm name; a second alarm on the same
    role is keyed ``role:alarm-name``)."""
    mine = {
        (d.namespace, d.name, frozenset(d.dimensions)): role for role, d in metric_ids(res).items()
    }
    out: dict[str, str] = {}
    for name, watched in sorted(alarms.items()):
        for role in sorted({mine[metric] for metric in watched if metric in mine}):
            out[role if role not in out else f"{role}:{name}"] = name
    return out


def _profile(name: str, spec: ServiceSpec, capacity: int, ceiling: int | None) -> ServiceProfile:
    baseline = spec.capacity.baseline or max(1, capacity)
    slo = spec.slo
    return ServiceProfile(
        name=name,
        kind=spec.kind.value,
        tier=spec.tier.value,
        protected=spec.protected,
        baseline_capacity=baseline,
        max_capacity=spec.capacity.max or ceiling or 4 * baseline,
        unit_cost_per_hour=(
            spec.capacity.unit_cost_per_hour
            if spec.capacity.unit_cost_per_hour is not None
            else UNIT_COST_PER_HOUR[spec.kind]
        ),
        downtime_cost_per_min=(
            spec.downtime_cost_per_min
            if spec.downtime_cost_per_min is not None
            else DOWNTIME_COST_PER_MIN[spec.tier]
        ),
        owners=tuple(spec.owners),
        escalation=spec.escalation,
        slo={
            role: value
            for role, value in (
                ("errors", slo.error_rate_percent if slo else None),
                ("latency", slo.latency if slo else None),
            )
            if value is not None
        },
    )


def _call(field: str, missing: str, call: Callable[[], T]) -> T:
    """``call()``; a not-found answer becomes ``_MissingError(field, missing)``, any other refusal
    a ``_MissingError`` saying what AWS said (access denied, throttled past the retries)."""
    try:
        return call()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "NotFound" in code or "NoSuch" in code or code.endswith(".Malformed"):
            raise _MissingError(field, missing) from exc
        raise _MissingError(field, f"could not be checked: {exc}") from exc
    except BotoCoreError as exc:
        raise _MissingError(field, f"AWS could not be asked: {exc}") from exc
