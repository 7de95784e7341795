"""References to the AWS resources behind each service of an estate.

The simulator creates them; the action executor and the agents' evidence readers act on them by
these identifiers only, exactly as they would on resources discovered in an account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.scenario.model import ServiceKind


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
    security_group_id: str
    iam_user: str
    access_key_id: str
    log_group: str
    log_stream: str = "app"
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


@dataclass(slots=True)
class Estate:
    """Every resource of one simulated (or discovered) estate."""

    run_id: str
    prefix: str
    region: str
    vpc_id: str
    vpc_cidr: str
    quarantine_security_group_id: str
    services: dict[str, ServiceResources]
    depends_on: dict[str, list[str]]


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
    if res.kind in (ServiceKind.ECS_SERVICE, ServiceKind.ASG):
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
