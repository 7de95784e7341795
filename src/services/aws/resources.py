"""References to the AWS resources behind each service of an estate, and what the estate's
catalogue says of each service.

The simulator creates them for a scenario; ``services.estate`` reads them from an estate file
(written by hand or by ``estate discover``) and checks them against the account. Either way the
action executor and the agents' evidence readers act on these identifiers only, and cannot tell
a simulated estate from a real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.scenario.model import ServiceKind


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """What the estate's catalogue says of a service (tier, protection, price, capacity, and
    who is paged for it)."""

    name: str
    kind: str
    tier: str
    protected: bool
    baseline_capacity: int
    max_capacity: int
    unit_cost_per_hour: float
    downtime_cost_per_min: float
    owners: tuple[str, ...] = ()
    """Teams or people who own the service (an estate file's ``owners``)."""
    escalation: str | None = None
    """Who is paged when the commander escalates (an estate file's ``escalation``)."""
    slo: dict[str, float] = field(default_factory=dict)
    """SLO thresholds by metric role (``errors`` in percent, ``latency`` in the metric's unit)."""
    max_connections: int = 0
    """A database's connection limit where known (a scenario's baseline); 0: unknown."""


@dataclass(frozen=True, slots=True)
class Dimension:
    """A CloudWatch metric: namespace, name and dimensions, as AWS publishes it."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str = "Average"

    def as_query(self) -> dict[str, object]:
        return {
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
        }


@dataclass(slots=True)
class ServiceResources:
    """The AWS resources of one service. Identifiers only; state is always read from AWS."""

    name: str
    kind: ServiceKind
    security_group_id: str | None = None
    iam_user: str | None = None
    access_key_id: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    # ecs-service
    cluster: str | None = None
    ecs_service: str | None = None
    task_family: str | None = None
    # asg
    asg_name: str | None = None
    launch_template_id: str | None = None
    # ecs-service and asg
    load_balancer_dimension: str | None = None  # app/<name>/<id>
    target_group_dimension: str | None = None  # targetgroup/<name>/<id>
    # rds
    db_instance_id: str | None = None
    # lambda
    function_name: str | None = None
    alias: str | None = None
    # the EC2 instance an instance-compromise acts on when the service is not an asg
    host_instance_id: str | None = None
    alarms: dict[str, str] = field(default_factory=dict)
    """Alarm role (``errors``, ``latency``, ``cpu``, ...) to CloudWatch alarm name."""


class MissingResourceError(LookupError):
    """The estate names no such resource for the service (an estate file may leave out a
    security group, an IAM user or a log group); an action needing it does not apply."""


def present(value: str | None, what: str, service: str) -> str:
    """``value``, or ``MissingResourceError`` saying which resource ``service`` lacks."""
    if not value:
        raise MissingResourceError(f"the estate names no {what} for {service}")
    return value


@dataclass(frozen=True, slots=True)
class Route:
    """One alert matcher of an estate file: an alert it matches is about ``service``.

    Every field given must match (glob patterns, ``fnmatch`` style, case-sensitive): each
    ``labels`` key against the alert's label of that name, each ``annotations`` key against its
    annotation, each ``dimensions`` key against a CloudWatch alarm's metric dimension, and
    ``resource`` against the resource the alert names (an alarm ARN, an instance, a host).
    """

    service: str
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    dimensions: tuple[tuple[str, str], ...] = ()
    resource: str | None = None
    where: str = ""
    """Where the matcher was written (``estate.yaml: services.checkout.routes[0]``)."""

    @property
    def conditions(self) -> int:
        """How many things it tests: the more, the more specific."""
        tested = len(self.labels) + len(self.annotations) + len(self.dimensions)
        return tested + (self.resource is not None)


@dataclass(slots=True, kw_only=True)
class Estate:
    """Every resource of one estate: simulated, or read from an estate file. Keyword-only: its
    fields are many and several share a type, so a positional call would misplace them silently."""

    run_id: str
    """Stable for a real estate (its name); a new one per build of a simulated estate."""
    prefix: str
    region: str
    services: dict[str, ServiceResources]
    depends_on: dict[str, list[str]]
    quarantine_security_group_id: str | None = None
    """The security group ``isolate-instance`` moves an instance into (no ingress, no
    egress); None: the estate names none, and isolation is not applicable."""
    vpc_id: str | None = None
    vpc_cidr: str | None = None
    routes: tuple[Route, ...] = ()
    """Alert matchers of an estate file; a simulated estate routes by names alone."""


def metric_ids(res: ServiceResources) -> dict[str, Dimension]:
    """The service's metrics by role: the identities the alarms and the agents query."""
    out: dict[str, Dimension] = {}
    dims: tuple[tuple[str, str], ...]
    if res.kind is ServiceKind.ECS_SERVICE:
        assert res.cluster
        assert res.ecs_service
        dims = (("ClusterName", res.cluster), ("ServiceName", res.ecs_service))
        out["cpu"] = Dimension("AWS/ECS", "CPUUtilization", dims)
        out["memory"] = Dimension("AWS/ECS", "MemoryUtilization", dims)
        out["capacity"] = Dimension("ECS/ContainerInsights", "RunningTaskCount", dims)
    elif res.kind is ServiceKind.ASG:
        assert res.asg_name
        dims = (("AutoScalingGroupName", res.asg_name),)
        out["cpu"] = Dimension("AWS/EC2", "CPUUtilization", dims)
        # Memory is not an EC2 metric; the CloudWatch agent publishes it per group.
        out["memory"] = Dimension("CWAgent", "mem_used_percent", dims)
        out["capacity"] = Dimension("AWS/AutoScaling", "GroupInServiceInstances", dims)
    behind_a_balancer = res.load_balancer_dimension and res.target_group_dimension
    if res.kind in (ServiceKind.ECS_SERVICE, ServiceKind.ASG) and behind_a_balancer:
        assert res.load_balancer_dimension
        assert res.target_group_dimension
        dims = (
            ("LoadBalancer", res.load_balancer_dimension),
            ("TargetGroup", res.target_group_dimension),
        )
        out["requests"] = Dimension("AWS/ApplicationELB", "RequestCount", dims, "Sum")
        out["latency"] = Dimension("AWS/ApplicationELB", "TargetResponseTime", dims)
        out["errors"] = Dimension("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims, "Sum")
    elif res.kind is ServiceKind.RDS:
        assert res.db_instance_id
        dims = (("DBInstanceIdentifier", res.db_instance_id),)
        out["cpu"] = Dimension("AWS/RDS", "CPUUtilization", dims)
        out["connections"] = Dimension("AWS/RDS", "DatabaseConnections", dims)
        out["latency"] = Dimension("AWS/RDS", "ReadLatency", dims)
        out["write_latency"] = Dimension("AWS/RDS", "WriteLatency", dims)
        out["free_storage"] = Dimension("AWS/RDS", "FreeStorageSpace", dims, "Minimum")
    elif res.kind is ServiceKind.LAMBDA:
        assert res.function_name
        dims = (("FunctionName", res.function_name),)
        out["requests"] = Dimension("AWS/Lambda", "Invocations", dims, "Sum")
        out["errors"] = Dimension("AWS/Lambda", "Errors", dims, "Sum")
        out["latency"] = Dimension("AWS/Lambda", "Duration", dims)
        out["throttles"] = Dimension("AWS/Lambda", "Throttles", dims, "Sum")
        out["concurrency"] = Dimension("AWS/Lambda", "ConcurrentExecutions", dims, "Maximum")
    return out
