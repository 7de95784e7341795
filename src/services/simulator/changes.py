"""Changes the simulated world makes to its own resources (deploys, an opened port, a runaway
autoscaler), and the timeline notes for changes anybody made, read back between two steps."""

from __future__ import annotations

from botocore.exceptions import ClientError

from services.aws.port import AwsPort
from services.aws.resources import Estate, ServiceResources, present
from services.scenario.model import SecurityGroupExposureParams, ServiceKind
from services.simulator.observe import Observed


def roll_out_revision(port: AwsPort, res: ServiceResources, obs: Observed) -> str:
    """Deploy a new revision of ``res`` the way its kind deploys; return the new revision id."""
    if res.kind is ServiceKind.ECS_SERVICE:
        described = port.ecs.describe_task_definition(taskDefinition=obs.revision)["taskDefinition"]
        revision = described["revision"] + 1
        containers = [
            {**c, "image": f"{res.name}:r{revision}"} for c in described["containerDefinitions"]
        ]
        arn = port.ecs.register_task_definition(
            family=res.task_family or "",
            containerDefinitions=containers,  # type: ignore[arg-type]
        )["taskDefinition"]["taskDefinitionArn"]
        port.ecs.update_service(
            cluster=res.cluster or "", service=res.ecs_service or "", taskDefinition=arn
        )
        return arn
    if res.kind is ServiceKind.ASG:
        number = port.ec2.create_launch_template_version(
            LaunchTemplateId=res.launch_template_id or "",
            SourceVersion=obs.revision,
            LaunchTemplateData={},
        )["LaunchTemplateVersion"]["VersionNumber"]
        port.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=res.asg_name or "",
            LaunchTemplate={
                "LaunchTemplateId": res.launch_template_id or "",
                "Version": str(number),
            },
        )
        return str(number)
    if res.kind is ServiceKind.LAMBDA:
        name = res.function_name or ""
        port.lambda_.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"REVISION": str(int(obs.revision) + 1)}}
        )
        version = port.lambda_.publish_version(FunctionName=name)["Version"]
        port.lambda_.update_alias(
            FunctionName=name, Name=res.alias or "live", FunctionVersion=version
        )
        return version
    raise ValueError(f"{res.name}: a database has no deployments")


def open_ingress(
    port: AwsPort, res: ServiceResources, params: SecurityGroupExposureParams, obs: Observed
) -> None:
    """Open the port to ``params.cidr``; a rule that is already open stays as it is."""
    if (params.protocol, params.port, params.cidr) in obs.open_ingress:
        return
    try:
        port.ec2.authorize_security_group_ingress(
            GroupId=present(res.security_group_id, "security group", res.name),
            IpPermissions=[
                {
                    "IpProtocol": params.protocol,
                    "FromPort": params.port,
                    "ToPort": params.port,
                    "IpRanges": [{"CidrIp": params.cidr, "Description": "temporary debug access"}],
                }
            ],
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "InvalidPermission.Duplicate":
            raise


def describe(before: dict[str, Observed], after: dict[str, Observed], estate: Estate) -> list[str]:
    """One timeline line for each change in AWS state between two reads."""
    notes: list[str] = []
    for name, now in after.items():
        was = before.get(name)
        if was is None:
            continue
        if now.capacity != was.capacity:
            notes.append(f"{name}: capacity {was.capacity} -> {now.capacity}")
        if now.revision != was.revision:
            notes.append(f"{name}: revision {_short(was.revision)} -> {_short(now.revision)}")
        if now.reboots != was.reboots:
            notes.append(f"{name}: database rebooted")
        elif estate.services[name].kind is ServiceKind.ASG:
            gone = sorted(was.instances - now.instances)
            if gone:
                notes.append(f"{name}: instances replaced: {', '.join(gone)}")
        elif (
            now.restart_marker != was.restart_marker
            and now.revision == was.revision
            and estate.services[name].kind is ServiceKind.ECS_SERVICE
        ):
            notes.append(f"{name}: tasks replaced")
        if now.allocated_storage_gib != was.allocated_storage_gib:
            notes.append(
                f"{name}: storage {was.allocated_storage_gib:g} GiB"
                f" -> {now.allocated_storage_gib:g} GiB"
            )
        if was.key_active and not now.key_active:
            notes.append(f"{name}: access key deactivated")
        for rule in sorted(was.open_ingress - now.open_ingress):
            notes.append(f"{name}: world-open rule {rule[0]}/{rule[1]} revoked")
        for instance in sorted(now.quarantined - was.quarantined):
            notes.append(f"{name}: instance {instance} quarantined")
    return notes


def _short(revision: str) -> str:
    return revision.rsplit("/", 1)[-1]
