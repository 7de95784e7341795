"""``estate discover`` on an account it did not build: the kit's foreign estate on a moto server
process, read through the port in LocalStack mode (one endpoint for every service, as LocalStack
and an account give). The draft must name what the tags say, infer what the resources say, and
realise into the metrics the account's own alarms watch."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from estatekit import AMI, ForeignEstate, tags
from orchestrator.intake import from_event
from services.aws.port import AwsPort, open_aws_port
from services.aws.resources import metric_ids
from services.errors import DiscoveryError, EstateFileError
from services.estate.discover import Discovered, discover
from services.estate.realise import realise
from services.estate.routing import owner_of
from services.settings import Settings

SCHEMA = Path(__file__).parents[3] / "docs" / "estate.schema.json"


@contextmanager
def _port(url: str, region: str) -> Iterator[AwsPort]:
    settings = Settings(_env_file=None, localstack_url=url, aws_region=region)  # type: ignore[call-arg]
    with open_aws_port(settings) as port:
        yield port


@pytest.fixture(scope="module")
def port(foreign: ForeignEstate) -> Iterator[AwsPort]:
    with _port(foreign.endpoint_url, foreign.region) as port:
        yield port


@pytest.fixture(scope="module")
def discovered(port: AwsPort) -> Discovered:
    return discover(port, name="shop", period_s=60)


def test_the_draft_names_every_tagged_service_with_what_its_tags_and_resources_say(
    discovered: Discovered, foreign: ForeignEstate
) -> None:
    assert yaml.safe_load(discovered.text) == {
        "version": 1,
        "name": "shop",
        "region": "us-east-1",
        "period": "60s",
        "quarantine_security_group": foreign.quarantine_security_group_id,
        "services": {
            "checkout": {
                "kind": "ecs-service",
                "tier": "critical",
                "depends_on": ["orders-db"],
                "owners": ["team-payments"],
                "escalation": "pagerduty:payments-oncall",
                "resources": {
                    "ecs_cluster": "shop",
                    "ecs_service": "checkout",
                    "target_group": "checkout",
                    "security_group": foreign.checkout_security_group_id,
                    "log_group": "/ecs/checkout",
                    "iam_user": "checkout-deploy",
                    "access_key_id": foreign.checkout_access_key_id,
                },
                "routes": [{"labels": {"service": "checkout"}}],
            },
            "orders-db": {
                "kind": "rds",
                "tier": "critical",
                "protected": True,
                "owners": ["team-data", "dba"],
                "escalation": "pagerduty:dba-oncall",
                "resources": {
                    "db_instance": "orders-db",
                    "security_group": foreign.db_security_group_id,
                },
                "routes": [{"labels": {"service": "orders-db"}}],
            },
            "resize": {
                "kind": "lambda",
                "tier": "supporting",
                "owners": ["team-media"],
                "resources": {
                    "function": "resize",
                    "alias": "live",
                    "log_group": "/aws/lambda/resize",
                },
                "routes": [{"labels": {"service": "resize"}}],
            },
            "web": {
                "kind": "asg",
                "tier": "important",
                "depends_on": ["checkout"],
                "owners": ["team-web"],
                "resources": {
                    "asg": "web",
                    "target_group": "web",
                    "security_group": foreign.web_security_group_id,
                    "log_group": "/ec2/web",
                },
                "routes": [{"labels": {"service": "web"}}],
            },
        },
    }
    assert discovered.notes == 0


def test_the_draft_asks_a_person_to_review_it_and_is_valid_against_the_published_schema(
    discovered: Discovered,
) -> None:
    head = discovered.text.splitlines()[:5]
    assert head[0].startswith("# Estate file (format 1) drafted by `incident-commander estate")
    assert any("REVIEW IT before the commander uses it" in line for line in head)
    jsonschema.validate(yaml.safe_load(discovered.text), json.loads(SCHEMA.read_text()))
    # What the account holds besides the estate stays out of it.
    for stranger in ("cron-cleanup", "alice", "bastion", "resize-exec"):
        assert stranger not in discovered.text


def test_the_draft_realises_onto_the_metrics_the_accounts_alarms_watch(
    discovered: Discovered, port: AwsPort, foreign: ForeignEstate
) -> None:
    realised = realise(port, discovered.estate, "estate.yaml")
    checkout = realised.estate.services["checkout"]
    assert checkout.alarms == {"errors": "checkout-5xx", "latency": "checkout-latency"}
    roles = {name: role for role, name in checkout.alarms.items()}
    metrics = metric_ids(checkout)
    alarms = port.cloudwatch.describe_alarms(AlarmNames=list(roles))["MetricAlarms"]
    assert len(alarms) == 2
    for alarm in alarms:
        role = roles[alarm["AlarmName"]]
        assert metrics[role].name == alarm["MetricName"]
        assert metrics[role].namespace == alarm["Namespace"]
        assert dict(metrics[role].dimensions) == {
            d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])
        }
    assert checkout.task_family == "checkout"
    web = realised.estate.services["web"]
    assert dict(metric_ids(web)["errors"].dimensions) == {
        "LoadBalancer": foreign.load_balancer_dimension,
        "TargetGroup": foreign.web_target_group_dimension,
    }
    assert web.launch_template_id == foreign.launch_template_id
    assert realised.estate.depends_on == {
        "checkout": ["orders-db"],
        "orders-db": [],
        "resize": [],
        "web": ["checkout"],
    }
    catalogue = realised.catalogue
    assert catalogue["orders-db"].protected
    assert not catalogue["checkout"].protected
    assert (catalogue["web"].baseline_capacity, catalogue["web"].max_capacity) == (2, 4)
    assert catalogue["checkout"].baseline_capacity == 2
    assert catalogue["orders-db"].owners == ("team-data", "dba")
    assert realised.estate.services["resize"].alias == "live"
    # An alarm of the account firing is about the service whose metric it watches.
    for name in ("checkout-5xx", "checkout-latency"):
        arn = f"arn:aws:cloudwatch:us-east-1:{foreign.account_id}:alarm:{name}"
        assert owner_of(realised.estate, arn) == "checkout"
        event = {
            "detail-type": "CloudWatch Alarm State Change",
            "detail": {"alarmName": name, "state": {"value": "ALARM"}},
        }
        alert = from_event(realised.estate, event, step=0)
        assert alert is not None
        assert alert["service"] == "checkout"


# -- what it cannot decide ------------------------------------------------------------------------


def _zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handle(event, context):\n    return None\n")
    return archive.getvalue()


def _function(foreign: ForeignEstate, region: str, name: str, values: dict[str, str]) -> Any:
    """A Lambda function of ``region`` with the kit's execution role, tagged ``values``."""
    lam = foreign.client("lambda", region)
    role = foreign.client("iam").get_role(RoleName="resize-exec")["Role"]["Arn"]
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handle",
        Code={"ZipFile": _zip()}, Tags=values,
    )  # fmt: skip
    return lam


def test_what_discovery_cannot_decide_is_left_out_with_a_review_comment(
    foreign: ForeignEstate,
) -> None:
    region = "eu-west-1"  # the same server, an account region of the test's own
    lam = _function(foreign, region, "thumbs", tags("thumbs", depends_on=("ghost",)))
    version = lam.publish_version(FunctionName="thumbs")["Version"]
    for alias in ("blue", "green"):
        lam.create_alias(FunctionName="thumbs", Name=alias, FunctionVersion=version)
    _function(foreign, region, "Thumbs", tags("Thumbs Service"))
    ec2 = foreign.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    for name in ("thumbs-a", "thumbs-b"):
        ec2.create_security_group(
            GroupName=name, Description=name, VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": [
                {"Key": "incident-commander:service", "Value": "thumbs"}]}],
        )  # fmt: skip
    ec2.create_security_group(
        GroupName="orphan", Description="orphan", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": "incident-commander:service", "Value": "orphan"}]}],
    )  # fmt: skip

    # An Auto Scaling group whose target group no load balancer sends traffic to.
    group = foreign.client("elbv2", region).create_target_group(
        Name="render", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    template = ec2.create_launch_template(
        LaunchTemplateName="render", LaunchTemplateData={"ImageId": AMI}
    )["LaunchTemplate"]["LaunchTemplateId"]
    foreign.client("autoscaling", region).create_auto_scaling_group(
        AutoScalingGroupName="render", MinSize=1, MaxSize=2, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": template}, TargetGroupARNs=[group],
        AvailabilityZones=[f"{region}a"],
        Tags=[{"Key": "incident-commander:service", "Value": "render"}],
    )  # fmt: skip

    with _port(foreign.endpoint_url, region) as port:
        found = discover(port, name="media")

    document = yaml.safe_load(found.text)
    assert list(document["services"]) == ["render", "thumbs"]
    assert document["services"]["render"]["resources"] == {"asg": "render"}
    assert document["services"]["thumbs"]["resources"] == {"function": "thumbs"}
    assert "depends_on" not in document["services"]["thumbs"]
    assert "quarantine_security_group" not in document
    comments = " ".join(
        line.strip().removeprefix("#").strip()
        for line in found.text.splitlines()
        if line.strip().startswith("#")
    )
    assert "function thumbs has aliases blue, green: set resources.alias" in comments
    assert "depends-on names ghost: no other service of the estate has that name" in comments
    assert "several security groups are tagged thumbs" in comments
    assert "'Thumbs Service'" in comments
    assert "not a service name" in comments
    assert "orphan: tagged on" in comments
    assert "on no ECS service" in comments
    assert "isolate-instance is not applicable" in comments
    assert "target group render is attached to no load balancer" in comments
    assert found.notes == 7, found.text
    # The comments about one service sit above it, indented with it.
    lines = found.text.splitlines()
    at = lines.index("  thumbs:")
    assert lines[at - 1].startswith("  #")


def test_a_dependency_cycle_in_the_tags_is_refused_naming_the_service(
    foreign: ForeignEstate,
) -> None:
    region = "ap-southeast-2"
    _function(foreign, region, "fetch", tags("fetch", depends_on=("store",)))
    _function(foreign, region, "store", tags("store", depends_on=("fetch",)))
    with _port(foreign.endpoint_url, region) as port, pytest.raises(EstateFileError) as raised:
        discover(port, name="loop")
    assert raised.value.source.startswith("estate discovered in ap-southeast-2")
    [issue] = raised.value.issues
    assert issue.field == "services.fetch.depends_on"
    assert issue.message == "dependency cycle: fetch -> store -> fetch"


def test_an_account_with_nothing_tagged_says_how_to_tag_it(foreign: ForeignEstate) -> None:
    match = r"no service found in sa-east-1: tag each .* incident-commander:service=<name>"
    with (
        _port(foreign.endpoint_url, "sa-east-1") as port,
        pytest.raises(DiscoveryError, match=match),
    ):
        discover(port, name="empty")
