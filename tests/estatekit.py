"""A foreign estate for tests: an AWS account the commander did not build, as a user's would be.

``moto_server()`` runs moto's server as a separate process on a free loopback port (nothing of
the commander's in it, no network needed) and yields its URL. ``build_foreign_estate`` fills it
with plain boto3 calls, tagged by the documented convention (docs/estate.md)::

    load balancer "shop" (ALB, listener :80)
    ├── default action -> target group "checkout" (ip)   <- ECS service "checkout"
    └── /web/*          -> target group "web" (instance) <- Auto Scaling group "web"

    checkout  ecs-service  cluster "shop", task family "checkout" (revisions 1 and 2, the
                           service runs 1, desired 2), Fargate in its own security group,
                           log group /ecs/checkout, IAM user "checkout-deploy" with one key,
                           alarms on its ALB 5xx count and latency; depends on orders-db
    orders-db rds          postgres instance in its own security group; protected
    web       asg          launch template "web", 1..4 instances, desired 2, log group
                           /ec2/web; depends on checkout
    resize    lambda       versions 1 and 2, alias "live" on version 1, log group
                           /aws/lambda/resize

plus what a real account also holds and no estate should pick up: an untagged Lambda function,
an untagged IAM user, an untagged security group. A security group with no rules is tagged
``incident-commander:quarantine=true``.

The builder uses no project code, so what the commander discovers or realises from it is what
it would find in an account.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

TAG = "incident-commander"
KEY_ID = SECRET = "testing"
"""The credentials moto accepts; never valid anywhere else."""
AMI = "ami-12c6146b"  # an image id moto knows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server(timeout: float = 60.0) -> Iterator[str]:
    """moto's server (``python -m moto.server``) as a separate process on a free loopback port;
    yields its URL (``http://127.0.0.1:PORT``) once it answers, and stops it afterwards."""
    for _attempt in range(3):  # a free port may be taken before the server binds it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL, stderr=log,
                env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            )  # fmt: skip
            try:
                if _wait_until_answering(url, process, timeout):
                    yield url
                    return
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                if "in use" not in tail:
                    raise RuntimeError(f"moto server on port {port} did not start:\n{tail}")
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(10)
    raise RuntimeError("moto server: no free loopback port after 3 attempts")


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """True once ``url`` answers HTTP; False if the process died first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as response:
                response.read()
            return True
        except urllib.error.HTTPError:
            return True  # an HTTP answer of any status: it is serving
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server at {url} silent for {timeout:g} s") from None
            time.sleep(0.1)
    return False


@dataclass(frozen=True)
class ForeignEstate:
    """What ``build_foreign_estate`` created: every identifier a test may assert on."""

    endpoint_url: str
    region: str
    account_id: str
    vpc_id: str
    subnet_ids: tuple[str, str]
    load_balancer_arn: str
    load_balancer_dimension: str
    """``app/shop/<id>``: the LoadBalancer dimension of its CloudWatch metrics."""
    quarantine_security_group_id: str
    # checkout (ecs-service)
    cluster: str
    ecs_service: str
    task_family: str
    task_definition_arns: tuple[str, str]
    """Revisions 1 and 2; the service runs revision 1."""
    checkout_target_group_arn: str
    checkout_target_group_dimension: str
    """``targetgroup/checkout/<id>``."""
    checkout_security_group_id: str
    checkout_log_group: str
    checkout_iam_user: str
    checkout_access_key_id: str
    checkout_alarms: dict[str, str]
    """Alarm role (``errors``, ``latency``) to alarm name, on the ALB metrics of checkout."""
    # orders-db (rds)
    db_instance: str
    db_security_group_id: str
    # web (asg)
    asg: str
    launch_template_id: str
    web_target_group_arn: str
    web_target_group_dimension: str
    web_security_group_id: str
    web_log_group: str
    # resize (lambda)
    function: str
    function_versions: tuple[str, str]
    alias: str
    """Points at version 1."""
    resize_log_group: str

    def client(self, service: str, region: str | None = None) -> Any:
        """A plain boto3 client on the estate's endpoint (in its region, or ``region``), as its
        owner would use."""
        return _session(region or self.region).client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]


def tags(
    service: str,
    *,
    tier: str | None = None,
    depends_on: tuple[str, ...] = (),
    protected: bool = False,
    owner: str | None = None,
    escalation: str | None = None,
) -> dict[str, str]:
    """The convention's tags for a resource of ``service``; the service's attributes (tier,
    dependencies, protection, owner, escalation) go on its main resource."""
    out = {f"{TAG}:service": service}
    if tier:
        out[f"{TAG}:tier"] = tier
    if depends_on:
        out[f"{TAG}:depends-on"] = ",".join(depends_on)
    if protected:
        out[f"{TAG}:protected"] = "true"
    if owner:
        out[f"{TAG}:owner"] = owner
    if escalation:
        out[f"{TAG}:escalation"] = escalation
    return out


def _kv(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in values.items()]


def _ec2_tags(kind: str, values: dict[str, str]) -> list[Any]:
    return [{"ResourceType": kind, "Tags": _kv(values)}]


def build_foreign_estate(endpoint_url: str, region: str = "us-east-1") -> ForeignEstate:
    """Create the estate above in ``region`` of the AWS at ``endpoint_url`` (once per region)."""
    session = _session(region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    ec2, elbv2, ecs, rds = client("ec2"), client("elbv2"), client("ecs"), client("rds")
    lam, asg, iam, logs = client("lambda"), client("autoscaling"), client("iam"), client("logs")
    cloudwatch = client("cloudwatch")
    account = client("sts").get_caller_identity()["Account"]

    # network
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = tuple(
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(zones)
    )
    assert len(subnets) == 2

    def security_group(name: str, values: dict[str, str]) -> str:
        group: str = ec2.create_security_group(
            GroupName=name,
            Description=name,
            VpcId=vpc,
            TagSpecifications=_ec2_tags("security-group", values),
        )["GroupId"]
        return group

    checkout_sg = security_group("checkout", tags("checkout"))
    db_sg = security_group("orders-db", tags("orders-db"))
    web_sg = security_group("web", tags("web"))
    security_group("bastion", {"team": "platform"})  # not the estate's
    quarantine = security_group("quarantine", {f"{TAG}:quarantine": "true"})
    ec2.revoke_security_group_egress(
        GroupId=quarantine,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )

    # the load balancer and its target groups
    lb = elbv2.create_load_balancer(Name="shop", Subnets=list(subnets), Type="application")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    checkout_tg = elbv2.create_target_group(
        Name="checkout", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
        Tags=_kv(tags("checkout")),
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    web_tg = elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
        Tags=_kv(tags("web")),
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": checkout_tg}],
    )["Listeners"][0]["ListenerArn"]
    elbv2.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/web/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": web_tg}],
    )

    # checkout: ECS on Fargate behind the load balancer
    ecs.create_cluster(clusterName="shop")
    revisions = tuple(
        ecs.register_task_definition(
            family="checkout",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="512",
            memory="1024",
            containerDefinitions=[
                {
                    "name": "checkout",
                    "image": f"registry.example/checkout:{version}",
                    "portMappings": [{"containerPort": 8080}],
                    "essential": True,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        for version in ("1.4.0", "1.5.0")
    )
    assert len(revisions) == 2
    ecs.create_service(
        cluster="shop",
        serviceName="checkout",
        taskDefinition=revisions[0],
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": list(subnets), "securityGroups": [checkout_sg]}
        },
        loadBalancers=[
            {"targetGroupArn": checkout_tg, "containerName": "checkout", "containerPort": 8080}
        ],
        tags=[
            {"key": k, "value": v}
            for k, v in tags(
                "checkout",
                tier="critical",
                depends_on=("orders-db",),
                owner="team-payments",
                escalation="pagerduty:payments-oncall",
            ).items()
        ],
    )
    logs.create_log_group(logGroupName="/ecs/checkout", tags=tags("checkout"))
    iam.create_user(UserName="checkout-deploy", Tags=_kv(tags("checkout")))
    key = iam.create_access_key(UserName="checkout-deploy")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "platform"}])

    lb_dimension = lb.split(":loadbalancer/", 1)[1]
    checkout_tg_dimension = checkout_tg.split(":", 5)[5]
    web_tg_dimension = web_tg.split(":", 5)[5]
    alarms = {"errors": "checkout-5xx", "latency": "checkout-latency"}
    for role, metric, statistic, threshold in (
        ("errors", "HTTPCode_Target_5XX_Count", "Sum", 50.0),
        ("latency", "TargetResponseTime", "Average", 0.8),
    ):
        cloudwatch.put_metric_alarm(
            AlarmName=alarms[role],
            Namespace="AWS/ApplicationELB",
            MetricName=metric,
            Dimensions=[
                {"Name": "LoadBalancer", "Value": lb_dimension},
                {"Name": "TargetGroup", "Value": checkout_tg_dimension},
            ],
            Statistic=statistic,
            Period=60,
            EvaluationPeriods=3,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
        )

    # orders-db: RDS
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        AllocatedStorage=50,
        MasterUsername="orders",
        MasterUserPassword="not-a-real-password-0",
        VpcSecurityGroupIds=[db_sg],
        Tags=_kv(
            tags(
                "orders-db",
                tier="critical",
                protected=True,
                owner="team-data,dba",
                escalation="pagerduty:dba-oncall",
            )
        ),
    )

    # web: an Auto Scaling group from a launch template, in the web target group
    template = ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={
            "ImageId": AMI,
            "InstanceType": "t3.medium",
            "SecurityGroupIds": [web_sg],
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=1,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=",".join(subnets),
        TargetGroupARNs=[web_tg],
        Tags=[
            {
                "ResourceId": "web",
                "ResourceType": "auto-scaling-group",
                "Key": k,
                "Value": v,
                "PropagateAtLaunch": True,
            }
            for k, v in tags(
                "web", tier="important", depends_on=("checkout",), owner="team-web"
            ).items()
        ],
    )
    logs.create_log_group(logGroupName="/ec2/web", tags=tags("web"))

    # resize: Lambda with two versions and an alias
    role = iam.create_role(
        RoleName="resize-exec",
        AssumeRolePolicyDocument=json.dumps(
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
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="resize",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": _zip("def handle(event, context):\n    return {'size': 1}\n")},
        Tags=tags("resize", tier="supporting", owner="team-media"),
    )
    v1 = lam.publish_version(FunctionName="resize")["Version"]
    lam.update_function_code(
        FunctionName="resize",
        ZipFile=_zip("def handle(event, context):\n    return {'size': 2}\n"),
    )
    v2 = lam.publish_version(FunctionName="resize")["Version"]
    lam.create_alias(FunctionName="resize", Name="live", FunctionVersion=v1)
    logs.create_log_group(logGroupName="/aws/lambda/resize", tags=tags("resize"))
    lam.create_function(  # not the estate's: untagged
        FunctionName="cron-cleanup",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": _zip("def handle(event, context):\n    return None\n")},
    )

    return ForeignEstate(
        endpoint_url=endpoint_url, region=region, account_id=account, vpc_id=vpc,
        subnet_ids=subnets, load_balancer_arn=lb, load_balancer_dimension=lb_dimension,
        quarantine_security_group_id=quarantine,
        cluster="shop", ecs_service="checkout", task_family="checkout",
        task_definition_arns=revisions, checkout_target_group_arn=checkout_tg,
        checkout_target_group_dimension=checkout_tg_dimension,
        checkout_security_group_id=checkout_sg, checkout_log_group="/ecs/checkout",
        checkout_iam_user="checkout-deploy", checkout_access_key_id=key, checkout_alarms=alarms,
        db_instance="orders-db", db_security_group_id=db_sg,
        asg="web", launch_template_id=template, web_target_group_arn=web_tg,
        web_target_group_dimension=web_tg_dimension, web_security_group_id=web_sg,
        web_log_group="/ec2/web",
        function="resize", function_versions=(v1, v2), alias="live",
        resize_log_group="/aws/lambda/resize",
    )  # fmt: skip


def _session(region: str) -> boto3.Session:
    return boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=region)


def _zip(source: str) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", source)
    return archive.getvalue()
