"""Evidence from AWS: metric series (``GetMetricData``), log lines (``FilterLogEvents``) and
change history read back from the resources themselves (task definition revisions, launch
template versions, function versions, RDS events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


def previous_task_definition(port: AwsPort, res: ServiceResources, current: str) -> str | None:
    """The ARN of the revision of ``res``'s task family registered before ``current`` (an ARN,
    or ``family:revision`` as a service updated with the short form reports it), or None."""
    arns = port.ecs.list_task_definitions(familyPrefix=res.task_family or "", sort="ASC")[
        "taskDefinitionArns"
    ]
    names = [_family_revision(arn) for arn in arns]
    here = _family_revision(current)
    if here not in names or names.index(here) == 0:
        return None
    return arns[names.index(here) - 1]


def _family_revision(task_definition: str) -> str:
    return task_definition.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Change:
    service: str
    what: str
    revision: str
    previous: str | None


def current_revision(port: AwsPort, res: ServiceResources) -> Change | None:
    """What runs now and what ran before it, read back from the resource, or None for a
    database (which has no deployments)."""
    if res.kind is ServiceKind.ECS_SERVICE:
        svc = port.ecs.describe_services(
            cluster=res.cluster or "", services=[res.ecs_service or ""]
        )
        current = svc["services"][0]["taskDefinition"]
        return Change(
            res.name, "task definition", current, previous_task_definition(port, res, current)
        )
    if res.kind is ServiceKind.ASG:
        group = port.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[res.asg_name or ""]
        )["AutoScalingGroups"][0]
        version = group.get("LaunchTemplate", {}).get("Version", "1")
        previous = str(int(version) - 1) if version.isdigit() and int(version) > 1 else None
        return Change(res.name, "launch template version", version, previous)
    if res.kind is ServiceKind.LAMBDA:
        alias = port.lambda_.get_alias(
            FunctionName=res.function_name or "", Name=res.alias or "live"
        )
        version = alias["FunctionVersion"]
        previous = str(int(version) - 1) if version.isdigit() and int(version) > 1 else None
        return Change(res.name, "function version", version, previous)
    return None
