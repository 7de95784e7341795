"""Read the estate's resources back from AWS, every step.

The simulator holds no state that AWS holds: capacity, running revision, restarts, reboots,
storage, key status, ingress rules and instance security groups all come from describe calls, so
a remediation made by anyone through the AWS API changes what the metrics show next.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from services.aws.port import AwsPort
from services.aws.resources import Estate, ServiceResources, present
from services.scenario.model import ServiceKind

_REBOOT_MESSAGES = ("DB instance restarted", "Multi-AZ instance failover completed")


@dataclass(frozen=True, slots=True)
class Observed:
    """One service's AWS state at one step."""

    capacity: int
    revision: str
    """Running task definition ARN, launch template version, or function version behind the
    alias; empty for a database."""
    restart_marker: str
    """Changes whenever the service's tasks or instances are replaced."""
    reboots: int = 0
    allocated_storage_gib: float = 0.0
    key_active: bool = True
    open_ingress: frozenset[tuple[str, int, str]] = frozenset()
    """Rules open to the world: (protocol, port, cidr)."""
    instances: frozenset[str] = frozenset()
    quarantined: frozenset[str] = frozenset()
    """Instances whose only security group is the estate's quarantine group."""


def observe(
    port: AwsPort, estate: Estate, *, keys_of: set[str], instances_of: dict[str, set[str]]
) -> dict[str, Observed]:
    """The AWS state of every service; IAM keys only for ``keys_of`` and the instances named in
    ``instances_of`` (what faults in flight depend on) to keep the calls per step few."""
    by_kind: dict[ServiceKind, list[ServiceResources]] = {}
    for res in estate.services.values():
        by_kind.setdefault(res.kind, []).append(res)
    got = {name: _Reading() for name in estate.services}

    ecs = by_kind.get(ServiceKind.ECS_SERVICE, [])
    for start in range(0, len(ecs), 10):  # DescribeServices takes ten services a call
        chunk = ecs[start : start + 10]
        described = port.ecs.describe_services(
            cluster=chunk[0].cluster or "", services=[r.ecs_service or "" for r in chunk]
        )["services"]
        for svc in described:
            reading = got[svc.get("serviceName", "")]
            reading.capacity = svc.get("desiredCount", 0)
            reading.revision = svc.get("taskDefinition", "")
            for deployment in svc.get("deployments", []):
                if deployment.get("status") == "PRIMARY":
                    reading.restart_marker = deployment.get("id", "")

    asgs = {r.asg_name: r.name for r in by_kind.get(ServiceKind.ASG, []) if r.asg_name}
    if asgs:
        pages = port.autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            AutoScalingGroupNames=list(asgs)
        )
        for page in pages:
            for group in page["AutoScalingGroups"]:
                ids = sorted(i["InstanceId"] for i in group.get("Instances", []))
                reading = got[asgs[group["AutoScalingGroupName"]]]
                reading.capacity = group["DesiredCapacity"]
                reading.revision = group.get("LaunchTemplate", {}).get("Version", "")
                reading.restart_marker = ",".join(ids)
                reading.instances = frozenset(ids)

    for res in by_kind.get(ServiceKind.LAMBDA, []):
        name = res.function_name or ""
        reading = got[res.name]
        alias = port.lambda_.get_alias(FunctionName=name, Name=res.alias or "live")
        concurrency = port.lambda_.get_function_concurrency(FunctionName=name)
        reading.capacity = concurrency.get("ReservedConcurrentExecutions", 0)
        reading.revision = alias["FunctionVersion"]

    for res in by_kind.get(ServiceKind.RDS, []):
        ident = res.db_instance_id or ""
        reading = got[res.name]
        db = port.rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
        events = port.rds.describe_events(SourceIdentifier=ident, SourceType="db-instance")
        reading.reboots = sum(
            1 for e in events["Events"] if e.get("Message", "").startswith(_REBOOT_MESSAGES)
        )
        reading.capacity = 1
        reading.restart_marker = str(reading.reboots)
        reading.allocated_storage_gib = float(db.get("AllocatedStorage", 0))

    owner = {
        present(r.security_group_id, "security group", r.name): r.name
        for r in estate.services.values()
    }
    groups = port.ec2.describe_security_groups(GroupIds=list(owner))["SecurityGroups"]
    for sg in groups:
        rules: set[tuple[str, int, str]] = set()
        for perm in sg.get("IpPermissions", []):
            protocol, from_port = perm.get("IpProtocol", "-1"), perm.get("FromPort", -1)
            rules.update(
                (protocol, from_port, r["CidrIp"])
                for r in perm.get("IpRanges", [])
                if r.get("CidrIp") == "0.0.0.0/0"
            )
            rules.update(
                (protocol, from_port, r["CidrIpv6"])
                for r in perm.get("Ipv6Ranges", [])
                if r.get("CidrIpv6") == "::/0"
            )
        got[owner[sg.get("GroupId", "")]].open_ingress = frozenset(rules)

    for name in keys_of:
        res = estate.services[name]
        user = present(res.iam_user, "IAM user", name)
        keys = port.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        got[name].key_active = any(
            k.get("AccessKeyId") == res.access_key_id and k.get("Status") == "Active" for k in keys
        )

    watched = sorted({i for ids in instances_of.values() for i in ids})
    if watched:
        alive: dict[str, list[str]] = {}
        reservations = port.ec2.describe_instances(
            Filters=[{"Name": "instance-id", "Values": watched}]
        )["Reservations"]
        for reservation in reservations:
            for inst in reservation.get("Instances", []):
                if inst.get("State", {}).get("Name") in {"terminated", "shutting-down"}:
                    continue
                alive[inst.get("InstanceId", "")] = [
                    g.get("GroupId", "") for g in inst.get("SecurityGroups", [])
                ]
        quarantine = [estate.quarantine_security_group_id]
        for name, wanted in instances_of.items():
            reading = got[name]
            reading.quarantined = frozenset(i for i in wanted if alive.get(i) == quarantine)
            if estate.services[name].kind is not ServiceKind.ASG:
                reading.instances = frozenset(i for i in wanted if i in alive)

    return {name: reading.freeze() for name, reading in got.items()}


@dataclass(slots=True)
class _Reading:
    """``Observed`` while it is being filled in from several describe calls."""

    capacity: int = 0
    revision: str = ""
    restart_marker: str = ""
    reboots: int = 0
    allocated_storage_gib: float = 0.0
    key_active: bool = True
    open_ingress: frozenset[tuple[str, int, str]] = frozenset()
    instances: frozenset[str] = frozenset()
    quarantined: frozenset[str] = frozenset()

    def freeze(self) -> Observed:
        return Observed(**asdict(self))
