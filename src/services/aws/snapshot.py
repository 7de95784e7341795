"""What each service runs now and at what capacity, in as few AWS calls as the APIs allow, all
issued at once.

One DescribeServices per ten ECS services of a cluster gives each one's desired count and task
definition, and its family's ListTaskDefinitions (asked in the same breath, since it needs only
the family) gives the revision before it; one DescribeAutoScalingGroups per fifty groups gives
their desired capacity and launch template version; a Lambda function takes GetFunctionConcurrency
and GetAlias; a database has neither (capacity 1, no revisions). No call waits on another, so
``start`` submits them all to the caller's thread pool, next to its other reads: on a real account
the whole snapshot costs one round trip (``orchestrator.evidence``).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.aws.port import AwsPort
from services.aws.resources import ServiceResources
from services.aws.telemetry import (
    ECS_SERVICES_PER_CALL,
    GROUPS_PER_CALL,
    previous_in,
    task_definitions,
)
from services.scenario.model import ServiceKind


@dataclass(frozen=True, slots=True)
class Change:
    service: str
    what: str
    revision: str
    previous: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    capacity: int
    """Desired tasks, instances or reserved concurrency; 1 for a database."""
    change: Change | None
    """What runs now and what ran before it; None for a database (no deployments)."""


class Reads:
    """The snapshot reads of some services, submitted to a pool; ``result`` waits for them."""

    def __init__(self, port: AwsPort, resources: Iterable[ServiceResources], pool: Executor):
        self._want: dict[str, ServiceResources] = {}
        self._ecs: dict[str, list[Future[Any]]] = {}  # cluster -> its DescribeServices
        self._families: dict[str, Future[list[str]]] = {}  # service -> its ListTaskDefinitions
        self._groups: list[Future[Any]] = []
        self._lambdas: dict[str, tuple[Future[Any], Future[Any]]] = {}  # concurrency, alias
        by_cluster: dict[str, list[str]] = {}
        groups: list[str] = []
        for res in resources:
            self._want[res.name] = res
            if res.kind is ServiceKind.ECS_SERVICE:
                by_cluster.setdefault(res.cluster or "", []).append(res.ecs_service or "")
                self._families[res.name] = pool.submit(task_definitions, port, res)
            elif res.kind is ServiceKind.ASG:
                groups.append(res.asg_name or "")
            elif res.kind is ServiceKind.LAMBDA:
                function = res.function_name or ""
                self._lambdas[res.name] = (
                    pool.submit(port.lambda_.get_function_concurrency, FunctionName=function),
                    pool.submit(
                        port.lambda_.get_alias, FunctionName=function, Name=res.alias or "live"
                    ),
                )
        for cluster, names in by_cluster.items():
            self._ecs[cluster] = [
                pool.submit(port.ecs.describe_services, cluster=cluster, services=batch)
                for batch in _batches(names, ECS_SERVICES_PER_CALL)
            ]
        self._groups = [
            pool.submit(port.autoscaling.describe_auto_scaling_groups, AutoScalingGroupNames=batch)
            for batch in _batches(groups, GROUPS_PER_CALL)
        ]

    def result(self, *, partial: bool = False) -> dict[str, Snapshot]:
        """Each service's snapshot. A read that fails raises (AWS's error, or ``LookupError``
        for a resource AWS does not describe); with ``partial``, an AWS error or a missing
        resource leaves that service out instead (a speculative read whose failure is left to
        the read that needs it)."""
        ecs = {
            (cluster, svc["serviceName"]): svc
            for cluster, calls in self._ecs.items()
            for answer in _answers(calls, partial)
            for svc in answer["services"]
        }
        groups = {
            group["AutoScalingGroupName"]: group
            for answer in _answers(self._groups, partial)
            for group in answer["AutoScalingGroups"]
        }
        out: dict[str, Snapshot] = {}
        for name, res in self._want.items():
            try:
                out[name] = self._one(res, ecs, groups)
            except (BotoCoreError, ClientError, LookupError):
                if not partial:
                    raise
        return out

    def _one(
        self, res: ServiceResources, ecs: dict[tuple[str, str], Any], groups: dict[str, Any]
    ) -> Snapshot:
        if res.kind is ServiceKind.ECS_SERVICE:
            svc = _found(ecs, (res.cluster or "", res.ecs_service or ""), res, "its ECS service")
            current = svc["taskDefinition"]
            previous = previous_in(self._families[res.name].result(), current)
            change = Change(res.name, "task definition", current, previous)
            return Snapshot(int(svc["desiredCount"]), change)
        if res.kind is ServiceKind.ASG:
            group = _found(groups, res.asg_name or "", res, "its Auto Scaling group")
            version = group.get("LaunchTemplate", {}).get("Version", "1")
            change = Change(res.name, "launch template version", version, _before(version))
            return Snapshot(int(group["DesiredCapacity"]), change)
        if res.kind is ServiceKind.LAMBDA:
            concurrency, alias = (call.result() for call in self._lambdas[res.name])
            version = alias["FunctionVersion"]
            change = Change(res.name, "function version", version, _before(version))
            return Snapshot(int(concurrency.get("ReservedConcurrentExecutions", 0)), change)
        return Snapshot(1, None)


def start(port: AwsPort, resources: Iterable[ServiceResources], pool: Executor) -> Reads:
    """Submit the snapshot reads of ``resources`` to ``pool``; ``Reads.result`` gathers them."""
    return Reads(port, resources, pool)


def _batches(names: list[str], size: int) -> list[list[str]]:
    return [names[first : first + size] for first in range(0, len(names), size)]


def _answers(calls: list[Future[Any]], partial: bool) -> list[Any]:
    """The calls' answers; with ``partial``, those that failed with an AWS error are skipped
    (their services are then missing, and left out)."""
    out = []
    for call in calls:
        try:
            out.append(call.result())
        except (BotoCoreError, ClientError):
            if not partial:
                raise
    return out


def _found(found: dict[Any, Any], key: Any, res: ServiceResources, what: str) -> Any:
    if key not in found:
        raise LookupError(f"{res.name}: AWS does not describe {what} ({key})")
    return found[key]


def _before(version: str) -> str | None:
    """The numbered version before ``version`` (launch template and Lambda versions count up)."""
    return str(int(version) - 1) if version.isdigit() and int(version) > 1 else None
