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
