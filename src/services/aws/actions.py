"""The remediation catalogue as AWS calls: one function per action kind, one entry point.

``execute`` never raises for an AWS refusal: the outcome is an ``ActionResult`` value with a
status, what was changed, and the request that undoes it, so the agent graph can record, verify
and roll back without exception handling of its own.

- scale-out, scale-in: ECS UpdateService desiredCount; ASG SetDesiredCapacity; Lambda
  PutFunctionConcurrency
- rollback-deployment: ECS UpdateService to the previous task definition; ASG to the previous
  launch template version; Lambda alias to the previous version
- restart-service: ECS UpdateService forceNewDeployment; ASG StartInstanceRefresh, or where the
  endpoint lacks it TerminateInstanceInAutoScalingGroup one instance at a time
- reboot-database, failover-database: RDS RebootDBInstance (ForceFailover for failover)
- increase-storage: RDS ModifyDBInstance AllocatedStorage
- deactivate-access-key: IAM UpdateAccessKey Status=Inactive
- isolate-instance: EC2 ModifyInstanceAttribute to the quarantine security group
- revoke-ingress-rule: EC2 RevokeSecurityGroupIngress
- notify, escalate: no AWS change
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from services.aws import telemetry
from services.aws.port import AwsPort
from services.aws.resources import Estate, MissingResourceError, ServiceResources, present
from services.scenario.model import ActionKind, ServiceKind

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef


class ActionStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"
    """The action does not fit the service (a reboot of an ECS service)."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    kind: ActionKind
    service: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionResult:
    request: ActionRequest
    status: ActionStatus
    detail: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    rollback: ActionRequest | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is ActionStatus.SUCCEEDED


class _NotApplicableError(Exception):
    pass


def execute(port: AwsPort, estate: Estate, request: ActionRequest) -> ActionResult:
    """Carry out ``request`` against AWS; every outcome, failures included, is a value."""
    res = estate.services.get(request.service)
    if res is None:
        return ActionResult(request, ActionStatus.FAILED, f"no service {request.service!r}")
    handler = _HANDLERS[request.kind]
    try:
        return handler(port, estate, res, request)
    except (_NotApplicableError, MissingResourceError) as exc:
        return ActionResult(request, ActionStatus.NOT_APPLICABLE, str(exc))
    except (ClientError, BotoCoreError) as exc:
        return ActionResult(
            request,
            ActionStatus.FAILED,
            f"{request.kind} on {request.service} failed",
            error=str(exc),
        )


def current_capacity(port: AwsPort, res: ServiceResources) -> int:
    if res.kind is ServiceKind.ECS_SERVICE:
        svc = port.ecs.describe_services(
            cluster=res.cluster or "", services=[res.ecs_service or ""]
        )
        return int(svc["services"][0]["desiredCount"])
    if res.kind is ServiceKind.ASG:
        groups = port.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[res.asg_name or ""]
        )
        return int(groups["AutoScalingGroups"][0]["DesiredCapacity"])
    if res.kind is ServiceKind.LAMBDA:
        got = port.lambda_.get_function_concurrency(FunctionName=res.function_name or "")
        return int(got.get("ReservedConcurrentExecutions", 0))
    raise _NotApplicableError(f"{res.name} is a database: its capacity is its instance class")


def set_capacity(port: AwsPort, res: ServiceResources, desired: int) -> None:
    if res.kind is ServiceKind.ECS_SERVICE:
        port.ecs.update_service(
            cluster=res.cluster or "", service=res.ecs_service or "", desiredCount=desired
        )
    elif res.kind is ServiceKind.ASG:
        group = port.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[res.asg_name or ""]
        )
        if desired > group["AutoScalingGroups"][0]["MaxSize"]:
            port.autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=res.asg_name or "", MaxSize=desired
            )
        port.autoscaling.set_desired_capacity(
            AutoScalingGroupName=res.asg_name or "", DesiredCapacity=desired, HonorCooldown=False
        )
    elif res.kind is ServiceKind.LAMBDA:
        port.lambda_.put_function_concurrency(
            FunctionName=res.function_name or "", ReservedConcurrentExecutions=desired
        )
    else:
        raise _NotApplicableError(f"{res.name} is a database: it cannot be scaled out or in")


def _scale(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    before = current_capacity(port, res)
    if "desired" in req.params:
        desired = int(req.params["desired"])
    elif req.kind is ActionKind.SCALE_OUT:
        desired = max(before + 1, int(before * float(req.params.get("factor", 2.0)) + 0.5))
    else:
        desired = max(1, int(before / float(req.params.get("factor", 2.0)) + 0.5))
    if desired < 1:
        raise _NotApplicableError("desired capacity must be at least 1")
    set_capacity(port, res, desired)
    undo = ActionKind.SCALE_IN if desired > before else ActionKind.SCALE_OUT
    return ActionResult(
        req,
        ActionStatus.SUCCEEDED,
        f"{res.name} capacity {before} -> {desired}",
        {"capacity": before},
        {"capacity": desired},
        ActionRequest(undo, res.name, {"desired": before}),
    )


def _rollback(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    if res.kind is ServiceKind.ECS_SERVICE:
        svc = port.ecs.describe_services(
            cluster=res.cluster or "", services=[res.ecs_service or ""]
        )
        current = svc["services"][0]["taskDefinition"]
        target = req.params.get("to") or _previous_task_definition(port, res, current)
        port.ecs.update_service(
            cluster=res.cluster or "", service=res.ecs_service or "", taskDefinition=target
        )
    elif res.kind is ServiceKind.ASG:
        group = port.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[res.asg_name or ""]
        )
        current = group["AutoScalingGroups"][0]["LaunchTemplate"]["Version"]
        target = str(req.params.get("to") or int(current) - 1)
        if int(target) < 1:
            raise _NotApplicableError(
                f"{res.name} runs launch template version 1: nothing to roll back to"
            )
        port.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=res.asg_name or "",
            LaunchTemplate={"LaunchTemplateId": res.launch_template_id or "", "Version": target},
        )
    elif res.kind is ServiceKind.LAMBDA:
        alias = port.lambda_.get_alias(
            FunctionName=res.function_name or "", Name=res.alias or "live"
        )
        current = alias["FunctionVersion"]
        target = str(req.params.get("to") or int(current) - 1)
        if int(target) < 1:
            raise _NotApplicableError(f"{res.name} runs version 1: nothing to roll back to")
        port.lambda_.update_alias(
            FunctionName=res.function_name or "", Name=res.alias or "live", FunctionVersion=target
        )
    else:
        raise _NotApplicableError(f"{res.name} is a database: there is no deployment to roll back")
    return ActionResult(
        req,
        ActionStatus.SUCCEEDED,
        f"{res.name} rolled back {current} -> {target}",
        {"revision": current},
        {"revision": target},
        ActionRequest(ActionKind.ROLLBACK_DEPLOYMENT, res.name, {"to": current}),
    )


def _previous_task_definition(port: AwsPort, res: ServiceResources, current: str) -> str:
    previous = telemetry.previous_task_definition(port, res, current)
    if previous is None:
        raise _NotApplicableError(
            f"{res.name} runs its first task definition: nothing to roll back to"
        )
    return previous


def _restart(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    if res.kind is ServiceKind.ECS_SERVICE:
        port.ecs.update_service(
            cluster=res.cluster or "", service=res.ecs_service or "", forceNewDeployment=True
        )
        detail = f"{res.name}: new deployment forced, tasks replaced"
    elif res.kind is ServiceKind.ASG:
        if port.capabilities.instance_refresh:
            port.autoscaling.start_instance_refresh(AutoScalingGroupName=res.asg_name or "")
            detail = f"{res.name}: instance refresh started"
        else:
            group = port.autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[res.asg_name or ""]
            )
            ids = [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]
            for instance_id in ids:  # one at a time: the group replaces each before the next
                port.autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
                )
            detail = f"{res.name}: {len(ids)} instances replaced one at a time"
    else:
        raise _NotApplicableError(
            f"restart-service applies to ECS services and Auto Scaling groups, not {res.kind}"
        )
    return ActionResult(req, ActionStatus.SUCCEEDED, detail)


def _reboot(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    if res.kind is not ServiceKind.RDS:
        raise _NotApplicableError(f"{res.name} is not a database")
    failover = req.kind is ActionKind.FAILOVER_DATABASE
    port.rds.reboot_db_instance(
        DBInstanceIdentifier=res.db_instance_id or "", ForceFailover=failover
    )
    verb = "failed over to its standby" if failover else "rebooted"
    return ActionResult(req, ActionStatus.SUCCEEDED, f"{res.name} {verb}")


def _increase_storage(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    if res.kind is not ServiceKind.RDS:
        raise _NotApplicableError(f"{res.name} is not a database")
    ident = res.db_instance_id or ""
    before = int(
        port.rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0][
            "AllocatedStorage"
        ]
    )
    # RDS requires growth of at least 10 %; default to half again.
    after = int(req.params.get("allocated_gib") or max(before + 10, int(before * 1.5)))
    port.rds.modify_db_instance(
        DBInstanceIdentifier=ident, AllocatedStorage=after, ApplyImmediately=True
    )
    return ActionResult(
        req,
        ActionStatus.SUCCEEDED,
        f"{res.name} storage {before} GiB -> {after} GiB",
        {"allocated_gib": before},
        {"allocated_gib": after},
        None,  # RDS storage cannot shrink
    )


def _deactivate_key(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    """Deactivate the key (or, as its own rollback with ``status: Active``, reactivate it)."""
    user = present(res.iam_user, "IAM user", res.name)
    key = present(req.params.get("access_key_id") or res.access_key_id, "access key", res.name)
    wanted = str(req.params.get("status", "Inactive"))
    if wanted not in {"Active", "Inactive"}:
        raise _NotApplicableError(f"an access key status is Active or Inactive, not {wanted!r}")
    status: Literal["Active", "Inactive"] = "Active" if wanted == "Active" else "Inactive"
    previous = "Active" if status == "Inactive" else "Inactive"
    port.iam.update_access_key(UserName=user, AccessKeyId=key, Status=status)
    verb = "deactivated" if status == "Inactive" else "reactivated"
    return ActionResult(
        req,
        ActionStatus.SUCCEEDED,
        f"access key {key} of {user} {verb}",
        {"status": previous},
        {"status": status},
        ActionRequest(
            ActionKind.DEACTIVATE_ACCESS_KEY,
            res.name,
            {"access_key_id": key, "status": previous},
        ),
    )


def _isolate(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    instance_id = req.params.get("instance_id") or res.host_instance_id
    if not instance_id:
        raise _NotApplicableError("isolate-instance needs params.instance_id")
    described = port.ec2.describe_instances(InstanceIds=[str(instance_id)])
    groups = [
        g["GroupId"] for g in described["Reservations"][0]["Instances"][0].get("SecurityGroups", [])
    ]
    quarantine = present(estate.quarantine_security_group_id, "quarantine security group", res.name)
    port.ec2.modify_instance_attribute(InstanceId=str(instance_id), Groups=[quarantine])
    return ActionResult(
        req,
        ActionStatus.SUCCEEDED,
        f"{instance_id} moved to quarantine security group {quarantine}",
        {"security_groups": groups},
        {"security_groups": [quarantine]},
    )


def _revoke(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    group_id = present(res.security_group_id, "security group", res.name)
    group = port.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    wanted_port = req.params.get("port")
    revoked: list[IpPermissionTypeDef] = []
    for perm in group.get("IpPermissions", []):
        world = [r for r in perm.get("IpRanges", []) if r.get("CidrIp") == "0.0.0.0/0"]
        if not world or (wanted_port is not None and perm.get("FromPort") != int(wanted_port)):
            continue
        rule: IpPermissionTypeDef = {
            "IpProtocol": perm.get("IpProtocol", "-1"),
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        }
        if "FromPort" in perm:
            rule |= {"FromPort": perm["FromPort"], "ToPort": perm["ToPort"]}
        port.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[rule])
        revoked.append(rule)
    if not revoked:
        raise _NotApplicableError(f"{group_id} has no rule open to 0.0.0.0/0")
    ports = ", ".join(str(r.get("FromPort", "all")) for r in revoked)
    return ActionResult(
        req,
        ActionStatus.SUCCEEDED,
        f"revoked world-open ingress on port(s) {ports} of {group_id}",
        {"open_rules": revoked},
        {"open_rules": []},
    )


def _no_change(
    port: AwsPort, estate: Estate, res: ServiceResources, req: ActionRequest
) -> ActionResult:
    return ActionResult(
        req, ActionStatus.SUCCEEDED, f"{req.kind}: {req.params.get('message', res.name)}"
    )


_HANDLERS = {
    ActionKind.SCALE_OUT: _scale,
    ActionKind.SCALE_IN: _scale,
    ActionKind.ROLLBACK_DEPLOYMENT: _rollback,
    ActionKind.RESTART_SERVICE: _restart,
    ActionKind.REBOOT_DATABASE: _reboot,
    ActionKind.FAILOVER_DATABASE: _reboot,
    ActionKind.INCREASE_STORAGE: _increase_storage,
    ActionKind.DEACTIVATE_ACCESS_KEY: _deactivate_key,
    ActionKind.ISOLATE_INSTANCE: _isolate,
    ActionKind.REVOKE_INGRESS_RULE: _revoke,
    ActionKind.NOTIFY: _no_change,
    ActionKind.ESCALATE: _no_change,
}
