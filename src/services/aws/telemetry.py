"""Evidence from AWS: metric series (``GetMetricData``), log lines (``FilterLogEvents``) and
change history read back from the resources themselves (task definition revisions, launch
template versions, function versions, CloudTrail's deploy events). What a service runs now and
at what capacity is ``services.aws.snapshot``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.aws.port import AwsPort
from services.aws.resources import Dimension, ServiceResources
from services.scenario.model import ServiceKind

_QUERIES_PER_CALL = 500  # GetMetricData's limit


@dataclass(frozen=True, slots=True)
class Series:
    timestamps: list[datetime]
    values: list[float]

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None


def fetch_series(
    port: AwsPort,
    metrics: dict[str, Dimension],
    start: datetime,
    end: datetime,
    period_s: int,
) -> dict[str, Series]:
    """Each metric's datapoints in [start, end), oldest first, keyed as given."""
    keys = list(metrics)
    ids = {f"m{i}": key for i, key in enumerate(keys)}
    out: dict[str, list[tuple[datetime, float]]] = {key: [] for key in keys}
    for first in range(0, len(keys), _QUERIES_PER_CALL):
        batch = list(ids.items())[first : first + _QUERIES_PER_CALL]
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": metrics[key].as_query(),
                    "Period": period_s,
                    "Stat": metrics[key].stat,
                },
                "ReturnData": True,
            }
            for query_id, key in batch
        ]
        token: str | None = None
        while True:
            kwargs = {"NextToken": token} if token else {}
            page = port.cloudwatch.get_metric_data(
                MetricDataQueries=queries,  # type: ignore[arg-type]
                StartTime=start,
                EndTime=end,
                ScanBy="TimestampAscending",
                **kwargs,  # type: ignore[arg-type]
            )
            for result in page["MetricDataResults"]:
                key = ids[result["Id"]]
                out[key].extend(zip(result["Timestamps"], result["Values"], strict=True))
            token = page.get("NextToken")
            if not token:
                break
    series: dict[str, Series] = {}
    for key, points in out.items():
        points.sort(key=lambda p: p[0])
        series[key] = Series([p[0] for p in points], [float(p[1]) for p in points])
    return series


def log_lines(
    port: AwsPort, res: ServiceResources, start: datetime, end: datetime, limit: int = 200
) -> list[tuple[datetime, str]]:
    """The service's log lines in [start, end], oldest first (none when the estate names no
    log group for it)."""
    if not res.log_group:
        return []
    found: list[tuple[datetime, str]] = []
    token: str | None = None
    while len(found) < limit:
        kwargs = {"nextToken": token} if token else {}
        page = port.logs.filter_log_events(
            logGroupName=res.log_group,
            startTime=int(start.timestamp() * 1000),
            endTime=int(end.timestamp() * 1000),
            limit=limit,
            **kwargs,  # type: ignore[arg-type]
        )
        for event in page.get("events", []):
            found.append(
                (
                    datetime.fromtimestamp(event.get("timestamp", 0) / 1000, tz=start.tzinfo),
                    event.get("message", ""),
                )
            )
        token = page.get("nextToken")
        if not token:
            break
    return found[:limit]


ECS_SERVICES_PER_CALL = 10  # DescribeServices' limit
GROUPS_PER_CALL = 50  # DescribeAutoScalingGroups' limit on names


def revisions(port: AwsPort, resources: Iterable[ServiceResources]) -> dict[str, str]:
    """What runs now, by service, for every service that has deployments: batched where the
    API allows (ten ECS services of a cluster per DescribeServices, fifty Auto Scaling groups
    per DescribeAutoScalingGroups), one GetAlias per Lambda function. The commander reads this
    every step to notice deploys, so on a real account its cost is paid every minute."""
    out: dict[str, str] = {}
    by_cluster: dict[str, dict[str, str]] = {}
    groups: dict[str, str] = {}
    for res in resources:
        if res.kind is ServiceKind.ECS_SERVICE and res.cluster and res.ecs_service:
            by_cluster.setdefault(res.cluster, {})[res.ecs_service] = res.name
        elif res.kind is ServiceKind.ASG and res.asg_name:
            groups[res.asg_name] = res.name
        elif res.kind is ServiceKind.LAMBDA and res.function_name:
            alias = port.lambda_.get_alias(FunctionName=res.function_name, Name=res.alias or "live")
            out[res.name] = alias["FunctionVersion"]
    for cluster, names in by_cluster.items():
        listed = list(names)
        for first in range(0, len(listed), ECS_SERVICES_PER_CALL):
            batch = listed[first : first + ECS_SERVICES_PER_CALL]
            for svc in port.ecs.describe_services(cluster=cluster, services=batch)["services"]:
                if svc.get("serviceName") in names:
                    out[names[svc["serviceName"]]] = svc["taskDefinition"]
    listed = list(groups)
    for first in range(0, len(listed), GROUPS_PER_CALL):
        batch = listed[first : first + GROUPS_PER_CALL]
        found = port.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=batch)
        for group in found["AutoScalingGroups"]:
            if group["AutoScalingGroupName"] in groups:
                version = group.get("LaunchTemplate", {}).get("Version", "1")
                out[groups[group["AutoScalingGroupName"]]] = version
    return out


def reserved_concurrency(port: AwsPort, resources: Iterable[ServiceResources]) -> dict[str, int]:
    """Each Lambda function's reserved concurrency (its capacity), by service: one
    GetFunctionConcurrency per function. CloudWatch has no metric for it, and AWS keeps no
    history of it to read back, so the commander reads it every step and keeps the series
    itself (``RunContext.capacity_log``); a function with none reserved is left out."""
    out: dict[str, int] = {}
    for res in resources:
        if res.kind is ServiceKind.LAMBDA and res.function_name:
            got = port.lambda_.get_function_concurrency(FunctionName=res.function_name)
            if "ReservedConcurrentExecutions" in got:
                out[res.name] = int(got["ReservedConcurrentExecutions"])
    return out


def deployed_at(port: AwsPort, resources: Iterable[ServiceResources]) -> dict[str, datetime]:
    """When each service's running revision was deployed, for revisions that replaced an
    earlier one: the ECS service's PRIMARY deployment ``createdAt`` (its task definition past
    revision 1), the Lambda alias's version ``LastModified`` (past version 1), the Auto Scaling
    group's launch template version ``CreateTime`` (past version 1). Read once, at the
    commander's first look at an estate: a deploy made just before it started is then dated,
    not mistaken for how the service always ran. Services whose revision is their first, or
    whose resource does not say, are left out."""
    out: dict[str, datetime] = {}
    by_cluster: dict[str, dict[str, str]] = {}
    for res in resources:
        if res.kind is ServiceKind.ECS_SERVICE and res.cluster and res.ecs_service:
            by_cluster.setdefault(res.cluster, {})[res.ecs_service] = res.name
        elif res.kind is ServiceKind.LAMBDA and res.function_name:
            alias = port.lambda_.get_alias(FunctionName=res.function_name, Name=res.alias or "live")
            version = alias["FunctionVersion"]
            if version.isdigit() and int(version) > 1:
                config = port.lambda_.get_function_configuration(
                    FunctionName=res.function_name, Qualifier=version
                )
                out[res.name] = datetime.fromisoformat(config["LastModified"])
        elif (
            res.kind is ServiceKind.ASG
            and res.asg_name
            and (at := _launch_template_time(port, res.asg_name))
        ):
            out[res.name] = at
    for cluster, names in by_cluster.items():
        listed = list(names)
        for first in range(0, len(listed), ECS_SERVICES_PER_CALL):
            batch = listed[first : first + ECS_SERVICES_PER_CALL]
            for svc in port.ecs.describe_services(cluster=cluster, services=batch)["services"]:
                revision = _family_revision(svc.get("taskDefinition", "")).rpartition(":")[2]
                primary = [d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"]
                if (
                    svc.get("serviceName") in names
                    and primary
                    and revision.isdigit()
                    and (int(revision) > 1)
                ):
                    out[names[svc["serviceName"]]] = primary[0]["createdAt"]
    return out


def _launch_template_time(port: AwsPort, group_name: str) -> datetime | None:
    found = port.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
    groups = found["AutoScalingGroups"]
    template = groups[0].get("LaunchTemplate") if groups else None
    version = str((template or {}).get("Version", ""))
    if template is None or not version.isdigit() or int(version) <= 1:
        return None
    versions = port.ec2.describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=[version]
    )["LaunchTemplateVersions"]
    return versions[0]["CreateTime"] if versions else None


DEPLOY_EVENTS = frozenset(
    {"UpdateService", "UpdateAlias", "UpdateAlias20150331", "UpdateAutoScalingGroup"}
)
"""CloudTrail events that change what a service runs: an ECS service's task definition, a
Lambda alias's version, an Auto Scaling group's launch template."""


def deploy_events(
    port: AwsPort, resources: Iterable[ServiceResources], start: datetime, end: datetime
) -> dict[str, list[datetime]]:
    """The deploys CloudTrail recorded from ``start`` to ``end``, by service, oldest first: one
    LookupEvents query for the account's write events (paged), kept when the event is a deploy
    (``DEPLOY_EVENTS``) and names a resource of the estate (in its resources or request
    parameters). Raises botocore's errors where the endpoint has no CloudTrail (the emulators)."""
    owner: dict[str, str] = {}
    for res in resources:
        for name in (res.ecs_service, res.function_name, res.asg_name):
            if name:
                owner[name] = res.name
    out: dict[str, list[datetime]] = {}
    pages = port.cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
        StartTime=start,
        EndTime=end,
    )
    for page in pages:
        for event in page.get("Events", []):
            if event.get("EventName") not in DEPLOY_EVENTS:
                continue
            named = {s for text in _names_in(event) if (s := owner.get(text)) is not None}
            for service in named:
                out.setdefault(service, []).append(event["EventTime"])
    return {service: sorted(times) for service, times in out.items()}


def _names_in(event: dict[str, Any]) -> set[str]:
    """Every name an event mentions: its resources' names split at ``/`` and ``:`` (ARNs),
    and the string values of its request parameters."""
    texts = [str(r.get("ResourceName", "")) for r in event.get("Resources", [])]
    try:
        detail = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        detail = {}
    params = detail.get("requestParameters") or {}
    texts += [v for v in params.values() if isinstance(v, str)] if isinstance(params, dict) else []
    return {token for text in texts for token in re.split(r"[/:]", text) if token}


def previous_task_definition(port: AwsPort, res: ServiceResources, current: str) -> str | None:
    """The ARN of the revision of ``res``'s task family registered before ``current`` (an ARN,
    or ``family:revision`` as a service updated with the short form reports it), or None."""
    return previous_in(task_definitions(port, res), current)


def task_definitions(port: AwsPort, res: ServiceResources) -> list[str]:
    """The ARNs of ``res``'s task family's active revisions, oldest first."""
    return port.ecs.list_task_definitions(familyPrefix=res.task_family or "", sort="ASC")[
        "taskDefinitionArns"
    ]


def previous_in(arns: list[str], current: str) -> str | None:
    """The ARN in ``arns`` (oldest first) just before ``current``, or None."""
    names = [_family_revision(arn) for arn in arns]
    here = _family_revision(current)
    if here not in names or names.index(here) == 0:
        return None
    return arns[names.index(here) - 1]


def _family_revision(task_definition: str) -> str:
    return task_definition.rsplit("/", 1)[-1]
