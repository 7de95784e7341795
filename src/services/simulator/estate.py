"""Realise a scenario's services as real AWS resources in whatever endpoint the port reaches.

Each service gets what the spec lists for its kind, plus an IAM user with one active access key,
a security group, a CloudWatch Logs group and SLO alarms. Names carry a short run prefix so
several runs can share one endpoint; AWS length limits (32 characters for load balancers and
target groups) are respected by shortening with a hash, never by truncating into a collision.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import TYPE_CHECKING

from services.aws.port import AwsPort
from services.aws.resources import Estate, ServiceResources, present
from services.scenario.model import Scenario, Service, ServiceKind
from services.simulator.alarms import alarm_specs

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import ResourceTypeType
    from mypy_boto3_ec2.type_defs import TagSpecificationTypeDef

    from services.simulator.dynamics import Profile

_AMI = "ami-12c6146b"  # an image id the emulator knows; on an account, set per region
_LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def short_name(prefix: str, name: str, limit: int) -> str:
    """``prefix-name`` within ``limit`` characters, hashed when too long to stay unique."""
    full = f"{prefix}-{name}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha1(name.encode()).hexdigest()[:6]
    room = limit - len(prefix) - len(digest) - 2
    return f"{prefix}-{name[:room].rstrip('-')}-{digest}"


def build_estate(
    port: AwsPort, scenario: Scenario, profiles: dict[str, Profile], run_id: str
) -> Estate:
    """Create every resource of ``scenario`` and return their identifiers."""
    prefix = f"ic{run_id}"
    vpc = port.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpc:
        vpc = [port.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]]
    vpc_id, vpc_cidr = vpc[0]["VpcId"], vpc[0]["CidrBlock"]
    subnets = [
        s["SubnetId"]
        for s in port.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "Subnets"
        ]
    ][:2]
    quarantine = port.ec2.create_security_group(
        GroupName=f"{prefix}-quarantine",
        Description="incident-commander quarantine: no ingress, no egress",
        VpcId=vpc_id,
    )["GroupId"]
    port.ec2.revoke_security_group_egress(
        GroupId=quarantine,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    needs_host = {
        e.target
        for e in scenario.events
        if e.kind == "instance-compromise"
        and scenario.service(e.target).kind is not ServiceKind.ASG
    }
    cluster = None
    if any(s.kind is ServiceKind.ECS_SERVICE for s in scenario.services):
        cluster = port.ecs.create_cluster(clusterName=prefix)["cluster"]["clusterName"]
    lambda_role = None
    if any(s.kind is ServiceKind.LAMBDA for s in scenario.services):
        lambda_role = port.iam.create_role(
            RoleName=f"{prefix}-lambda", AssumeRolePolicyDocument=_LAMBDA_TRUST
        )["Role"]["Arn"]

    resources: dict[str, ServiceResources] = {}
    for service in scenario.services:
        profile = profiles[service.name]
        res = _common(port, prefix, service, vpc_id, vpc_cidr)
        if service.kind is ServiceKind.ECS_SERVICE:
            assert cluster is not None
            _ecs(port, res, prefix, cluster, profile)
            _load_balancer(port, res, prefix, vpc_id, subnets)
        elif service.kind is ServiceKind.ASG:
            _asg(port, res, prefix, profile)
            _load_balancer(port, res, prefix, vpc_id, subnets)
        elif service.kind is ServiceKind.RDS:
            _rds(port, res, prefix, profile)
        else:
            assert lambda_role is not None
            _lambda(port, res, prefix, lambda_role, profile)
        if service.name in needs_host:
            res.host_instance_id = port.ec2.run_instances(
                ImageId=_AMI,
                InstanceType="m6i.large",
                MinCount=1,
                MaxCount=1,
                SecurityGroupIds=[present(res.security_group_id, "security group", res.name)],
                TagSpecifications=[_tags("instance", prefix, service.name)],
            )["Instances"][0]["InstanceId"]
        for role, spec in alarm_specs(res, profile, scenario.step).items():
            alarm = short_name(prefix, f"{service.name}-{role}", 255)
            port.cloudwatch.put_metric_alarm(**spec.put_kwargs(alarm))  # type: ignore[arg-type]
            res.alarms[role] = alarm
        resources[service.name] = res
    return Estate(
        run_id=run_id,
        prefix=prefix,
        region=port.region,
        vpc_id=vpc_id,
        vpc_cidr=vpc_cidr,
        quarantine_security_group_id=quarantine,
        services=resources,
        depends_on={s.name: list(s.depends_on) for s in scenario.services},
    )


def _tags(resource_type: ResourceTypeType, prefix: str, service: str) -> TagSpecificationTypeDef:
    return {
        "ResourceType": resource_type,
        "Tags": [
            {"Key": "incident-commander:run", "Value": prefix},
            {"Key": "incident-commander:service", "Value": service},
        ],
    }


def _common(
    port: AwsPort, prefix: str, service: Service, vpc_id: str, vpc_cidr: str
) -> ServiceResources:
    name = short_name(prefix, service.name, 64)
    sg = port.ec2.create_security_group(
        GroupName=name, Description=f"{service.name} ({prefix})", VpcId=vpc_id
    )["GroupId"]
    port.ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": vpc_cidr, "Description": "in-VPC callers"}],
            }
        ],
    )
    port.iam.create_user(UserName=name, Tags=[{"Key": "incident-commander:run", "Value": prefix}])
    key = port.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    log_group = {
        ServiceKind.ECS_SERVICE: f"/ecs/{prefix}/{service.name}",
        ServiceKind.ASG: f"/ec2/{prefix}/{service.name}",
        ServiceKind.RDS: f"/aws/rds/instance/{name}/error",
        ServiceKind.LAMBDA: f"/aws/lambda/{name}",
    }[service.kind]
    port.logs.create_log_group(logGroupName=log_group)
    port.logs.create_log_stream(logGroupName=log_group, logStreamName="app")
    return ServiceResources(
        name=service.name,
        kind=service.kind,
        security_group_id=sg,
        iam_user=name,
        access_key_id=key,
        log_group=log_group,
        log_stream="app",
    )


def _ecs(port: AwsPort, res: ServiceResources, prefix: str, cluster: str, profile: Profile) -> None:
    family = short_name(prefix, res.name, 255)
    arn = port.ecs.register_task_definition(
        family=family,
        containerDefinitions=[
            {"name": res.name, "image": f"{res.name}:r1", "memory": 1024, "cpu": 512}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    port.ecs.create_service(
        cluster=cluster,
        serviceName=res.name,
        taskDefinition=arn,
        desiredCount=profile.capacity,
    )
    res.cluster, res.ecs_service, res.task_family = cluster, res.name, family


def _asg(port: AwsPort, res: ServiceResources, prefix: str, profile: Profile) -> None:
    name = short_name(prefix, res.name, 128)
    template = port.ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={
            "ImageId": _AMI,
            "InstanceType": "m6i.large",
            "SecurityGroupIds": [present(res.security_group_id, "security group", res.name)],
            "UserData": "cmV2aXNpb249MQ==",  # revision=1
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    zones = [z["ZoneName"] for z in port.ec2.describe_availability_zones()["AvailabilityZones"]]
    port.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
        MinSize=1,
        MaxSize=profile.max_capacity,
        DesiredCapacity=profile.capacity,
        AvailabilityZones=zones[:2],
    )
    res.asg_name, res.launch_template_id = name, template


def _load_balancer(
    port: AwsPort, res: ServiceResources, prefix: str, vpc_id: str, subnets: list[str]
) -> None:
    name = short_name(prefix, res.name, 32)
    lb = port.elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="application")[
        "LoadBalancers"
    ][0]
    tg = port.elbv2.create_target_group(
        Name=name, Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="ip"
    )["TargetGroups"][0]
    # CloudWatch names them by the tail of the ARN: app/<name>/<id>, targetgroup/<name>/<id>.
    res.load_balancer_dimension = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    res.target_group_dimension = tg["TargetGroupArn"].split(":", 5)[5]


def _rds(port: AwsPort, res: ServiceResources, prefix: str, profile: Profile) -> None:
    identifier = short_name(prefix, res.name, 63)
    allocated = int(profile.free_storage_gib * 2)  # half used, half free at the start
    port.rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        DBInstanceClass="db.r6g.large",
        Engine="postgres",
        AllocatedStorage=max(20, allocated),
        MasterUsername="commander",
        MasterUserPassword="not-a-real-password-0",
        MultiAZ=True,
        VpcSecurityGroupIds=[present(res.security_group_id, "security group", res.name)],
        Tags=[{"Key": "incident-commander:run", "Value": prefix}],
    )
    res.db_instance_id = identifier


def _lambda(port: AwsPort, res: ServiceResources, prefix: str, role: str, profile: Profile) -> None:
    name = short_name(prefix, res.name, 64)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handle(event, context):\n    return {'ok': True}\n")
    port.lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": archive.getvalue()},
        Environment={"Variables": {"REVISION": "1"}},
    )
    version = port.lambda_.publish_version(FunctionName=name)["Version"]
    port.lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    port.lambda_.put_function_concurrency(
        FunctionName=name, ReservedConcurrentExecutions=profile.capacity
    )
    res.function_name, res.alias = name, "live"
