"""What an account holds for the commander: every resource tagged ``incident-commander:service``,
read through the AWS port, with the facts discovery infers from (an ECS service's and an Auto
Scaling group's target groups, a target group's load balancers, a function's aliases, a user's
keys).

The Resource Groups Tagging API (GetResources) finds most tagged resources in one paginated
call. It does not return Auto Scaling groups or IAM users, so those are listed with their own
describe calls (DescribeAutoScalingGroups, ListUsers with ListUserTags); target groups are read
with DescribeTargetGroups and DescribeTags, which also give every group's load balancers. Only
read calls are made.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from services.aws.port import AwsPort
from services.errors import AwsPortError

if TYPE_CHECKING:
    from mypy_boto3_elbv2.type_defs import TargetGroupTypeDef

PREFIX = "incident-commander:"
SERVICE_TAG = f"{PREFIX}service"
QUARANTINE_TAG = f"{PREFIX}quarantine"


class Kind(StrEnum):
    """The resource types discovery understands, named as in their ARNs."""

    ECS_SERVICE = "ecs:service"
    ASG = "autoscaling:autoScalingGroup"
    DB_INSTANCE = "rds:db"
    FUNCTION = "lambda:function"
    TARGET_GROUP = "elasticloadbalancing:targetgroup"
    SECURITY_GROUP = "ec2:security-group"
    INSTANCE = "ec2:instance"
    LOG_GROUP = "logs:log-group"
    IAM_USER = "iam:user"


@dataclass(frozen=True, slots=True)
class Tagged:
    """One resource tagged with a service name: what it is, its id as an estate file writes it
    (a name, an id), its ARN and tags, and what discovery needs to know of it."""

    kind: Kind
    ident: str
    arn: str
    tags: Mapping[str, str]
    cluster: str | None = None
    """An ECS service's cluster."""
    target_groups: tuple[str, ...] = ()
    """The target group ARNs an ECS service or an Auto Scaling group sends traffic to."""
    launch_template: str | None = None
    """An Auto Scaling group's launch template id (None: a launch configuration)."""
    aliases: tuple[str, ...] = ()
    """A Lambda function's aliases."""
    access_keys: tuple[str, ...] = ()
    """An IAM user's active access key ids."""
    in_asg: bool = False
    """An EC2 instance an Auto Scaling group launched."""

    @property
    def service(self) -> str:
        return self.tags[SERVICE_TAG]


@dataclass(frozen=True, slots=True)
class TargetGroup:
    arn: str
    name: str
    load_balancers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything discovery reads from one account and region."""

    region: str
    tagged: tuple[Tagged, ...]
    target_groups: Mapping[str, TargetGroup] = field(default_factory=dict)
    """Every target group of the region, by ARN."""
    quarantine_groups: tuple[str, ...] = ()
    """Security groups tagged ``incident-commander:quarantine=true``."""


def read_inventory(port: AwsPort) -> Inventory:
    """Read the account behind ``port``; ``AwsPortError`` if a read is refused or fails."""
    try:
        target_groups = _target_groups(port)
        by_arn: dict[str, Tagged] = {}
        for found in chain(
            _tagging(port), _asgs(port), _users(port), _tagged_target_groups(port, target_groups)
        ):
            by_arn.setdefault(found.arn, found)
        quarantine = [
            r["ResourceARN"].rsplit("/", 1)[-1]
            for r in _resources(port, {"Key": QUARANTINE_TAG, "Values": ["true"]})
            if _kind(r["ResourceARN"]) is Kind.SECURITY_GROUP
        ]
    except ClientError as exc:  # says which call was refused, and why
        raise AwsPortError(f"estate discovery could not read the account: {exc}") from exc
    except BotoCoreError as exc:
        raise AwsPortError(f"estate discovery could not reach AWS: {exc}") from exc
    return Inventory(
        region=port.region,
        tagged=tuple(sorted(by_arn.values(), key=lambda t: (t.service, t.kind, t.ident))),
        target_groups={g.arn: g for g in target_groups},
        quarantine_groups=tuple(sorted(quarantine)),
    )


def _tagging(port: AwsPort) -> Iterator[Tagged]:
    """What GetResources finds, with the facts of each read by its own service's API."""
    for mapping in _resources(port, {"Key": SERVICE_TAG}):
        arn = mapping["ResourceARN"]
        kind = _kind(arn)
        tags = {t["Key"]: t["Value"] for t in mapping.get("Tags", [])}
        if kind is Kind.ECS_SERVICE:
            service = _ecs_service(port, arn, tags)
            if service is not None:
                yield service
        elif kind is Kind.FUNCTION:
            name = arn.split(":")[6]
            pages = port.lambda_.get_paginator("list_aliases").paginate(FunctionName=name)
            aliases = sorted(a["Name"] for page in pages for a in page.get("Aliases", []))
            yield Tagged(kind, name, arn, tags, aliases=tuple(aliases))
        elif kind is Kind.INSTANCE:
            ident = arn.rsplit("/", 1)[-1]
            yield Tagged(kind, ident, arn, tags, in_asg="aws:autoscaling:groupName" in tags)
        elif kind is Kind.LOG_GROUP:
            yield Tagged(kind, arn.split(":", 6)[6].removesuffix(":*"), arn, tags)
        elif kind is Kind.DB_INSTANCE:
            yield Tagged(kind, arn.split(":", 6)[6], arn, tags)
        elif kind is Kind.SECURITY_GROUP:
            yield Tagged(kind, arn.rsplit("/", 1)[-1], arn, tags)
        # Target groups are read with their load balancers (_tagged_target_groups); anything
        # else tagged with a service (a cluster, a task definition, an alarm) is not needed.


def _kind(arn: str) -> Kind | None:
    """The kind of resource an ARN names, if discovery understands it."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    kinds = {
        ("ecs", "service/"): Kind.ECS_SERVICE,
        ("rds", "db:"): Kind.DB_INSTANCE,
        ("lambda", "function:"): Kind.FUNCTION,
        ("elasticloadbalancing", "targetgroup/"): Kind.TARGET_GROUP,
        ("ec2", "security-group/"): Kind.SECURITY_GROUP,
        ("ec2", "instance/"): Kind.INSTANCE,
        ("logs", "log-group:"): Kind.LOG_GROUP,
    }
    return next((k for (s, p), k in kinds.items() if s == service and resource.startswith(p)), None)


def _resources(port: AwsPort, tag_filter: Any) -> Iterator[Any]:
    paginator = port.tagging.get_paginator("get_resources")
    for page in paginator.paginate(TagFilters=[tag_filter]):
        yield from page.get("ResourceTagMappingList", [])


def _ecs_service(port: AwsPort, arn: str, tags: dict[str, str]) -> Tagged | None:
    """The active ECS service ``arn`` names; None for a deleted one (they keep their tags for
    a while, and a draining service is no service to command)."""
    path = arn.split(":", 5)[5].split("/")  # service/cluster/name, or service/name (old ARNs)
    clusters = [path[1]] if len(path) == 3 else _clusters(port)
    for cluster in clusters:
        found = port.ecs.describe_services(cluster=cluster, services=[arn])["services"]
        for service in found:
            if service.get("status") == "ACTIVE":
                groups = tuple(
                    lb["targetGroupArn"]
                    for lb in service.get("loadBalancers", [])
                    if "targetGroupArn" in lb
                )
                name = service["serviceName"]
                cluster_name = service.get("clusterArn", cluster).rsplit("/", 1)[-1]
                return Tagged(
                    Kind.ECS_SERVICE, name, arn, tags, cluster=cluster_name, target_groups=groups
                )
    return None


def _clusters(port: AwsPort) -> list[str]:
    return [
        arn.rsplit("/", 1)[-1]
        for page in port.ecs.get_paginator("list_clusters").paginate()
        for arn in page.get("clusterArns", [])
    ]


def _asgs(port: AwsPort) -> Iterator[Tagged]:
    for page in port.autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page.get("AutoScalingGroups", []):
            tags = {t["Key"]: t["Value"] for t in group.get("Tags", []) if "Key" in t}
            if SERVICE_TAG not in tags:
                continue
            template = group.get("LaunchTemplate", {}).get("LaunchTemplateId")
            if template is None:  # a mixed instances policy names its template inside
                policy = group.get("MixedInstancesPolicy", {})
                spec = policy.get("LaunchTemplate", {}).get("LaunchTemplateSpecification", {})
                template = spec.get("LaunchTemplateId")
            yield Tagged(
                Kind.ASG,
                group["AutoScalingGroupName"],
                group["AutoScalingGroupARN"],
                tags,
                target_groups=tuple(group.get("TargetGroupARNs", [])),
                launch_template=template,
            )


def _users(port: AwsPort) -> Iterator[Tagged]:
    for page in port.iam.get_paginator("list_users").paginate():
        for user in page.get("Users", []):
            name = user["UserName"]
            tags = {
                t["Key"]: t["Value"]
                for tags_page in port.iam.get_paginator("list_user_tags").paginate(UserName=name)
                for t in tags_page.get("Tags", [])
            }
            if SERVICE_TAG not in tags:
                continue
            keys = port.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            active = tuple(sorted(k["AccessKeyId"] for k in keys if k.get("Status") == "Active"))
            yield Tagged(Kind.IAM_USER, name, user["Arn"], tags, access_keys=active)


def _target_groups(port: AwsPort) -> list[TargetGroup]:
    groups: list[TargetGroupTypeDef] = [
        g
        for page in port.elbv2.get_paginator("describe_target_groups").paginate()
        for g in page.get("TargetGroups", [])
    ]
    return [
        TargetGroup(g["TargetGroupArn"], g["TargetGroupName"], tuple(g.get("LoadBalancerArns", [])))
        for g in groups
    ]


def _tagged_target_groups(port: AwsPort, groups: list[TargetGroup]) -> Iterator[Tagged]:
    by_arn = {g.arn: g for g in groups}
    for batch in _batches(list(by_arn), 20):  # DescribeTags takes up to 20 ARNs
        for description in port.elbv2.describe_tags(ResourceArns=batch)["TagDescriptions"]:
            tags = {t["Key"]: t.get("Value", "") for t in description.get("Tags", [])}
            if SERVICE_TAG in tags:
                group = by_arn[description["ResourceArn"]]
                yield Tagged(Kind.TARGET_GROUP, group.name, group.arn, tags)


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
