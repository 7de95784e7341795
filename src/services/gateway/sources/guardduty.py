"""GuardDuty findings: an EventBridge event (``detail-type: GuardDuty Finding``), or the output
of ``aws guardduty get-findings`` (``Findings``, the same fields in PascalCase).

- fingerprint: ``guardduty:<finding id>``; GuardDuty updates a finding in place (its ``count``
  and ``updatedAt`` grow) and the id stays;
- status: firing; resolved once the finding is archived;
- title, description: the finding's;
- service: the first of the tags ``incident-commander:service``, ``service``, ``app``,
  ``application`` (any case) on the affected resource; None when it has none (an access key
  carries no tags);
- resource: the access key id, instance id, bucket, database, function or cluster affected;
- severity: GuardDuty's 0-10 score in AWS's bands: 9+ critical, 7+ high, 4+ medium, 1+ low,
  below 1 info;
- starts_at: the activity's first sighting (``service.eventFirstSeen``, else ``createdAt``);
  ends_at: ``updatedAt`` of an archived finding;
- fault_hint: as the commander reads findings: an access key is a credential compromise, a
  port probe (``Recon:EC2/PortProbe*``) a security-group exposure, any other instance finding
  an instance compromise; None otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import AliasChoices, AliasGenerator, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel, to_pascal

from services.errors import IngestError, ValidationIssue
from services.gateway.alerts import (
    Alert,
    AlertBatch,
    AlertSource,
    AlertStatus,
    FaultHint,
    IngestOptions,
    Severity,
    own_fingerprint,
    web_links,
)
from services.gateway.sources.eventbridge import EventBridgeEvent, is_event, read_event
from services.gateway.sources.schema import (
    Payload,
    UtcTime,
    join,
    json_type,
    member,
    validate,
    where,
)

DETAIL_TYPE = "GuardDuty Finding"
SERVICE_TAGS = ("incident-commander:service", "service", "app", "application")


def _either_case(name: str) -> AliasChoices:
    return AliasChoices(to_camel(name), to_pascal(name))


class _Finding(Payload):
    """EventBridge writes findings in camelCase, the CLI and SDKs in PascalCase."""

    model_config = ConfigDict(alias_generator=AliasGenerator(validation_alias=_either_case))


class Tag(_Finding):
    key: str
    value: str = ""


class SecurityGroup(_Finding):
    group_id: str = ""


class NetworkInterface(_Finding):
    security_groups: list[SecurityGroup] = Field(default_factory=list)


class InstanceDetails(_Finding):
    instance_id: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    network_interfaces: list[NetworkInterface] = Field(default_factory=list)


class AccessKeyDetails(_Finding):
    access_key_id: str | None = None
    user_name: str | None = None


class TaggedDetails(_Finding):
    """Any other resource's details: a name to call it by, and its tags."""

    name: str | None = None
    db_instance_identifier: str | None = None
    function_name: str | None = None
    tags: list[Tag] = Field(default_factory=list)


class Resource(_Finding):
    resource_type: str = ""
    access_key_details: AccessKeyDetails | None = None
    instance_details: InstanceDetails | None = None
    s3_bucket_details: list[TaggedDetails] = Field(default_factory=list)
    eks_cluster_details: TaggedDetails | None = None
    ecs_cluster_details: TaggedDetails | None = None
    rds_db_instance_details: TaggedDetails | None = None
    lambda_details: TaggedDetails | None = None


class RemoteIp(_Finding):
    ip_address_v4: str | None = None


class ApiCall(_Finding):
    api: str | None = None
    remote_ip_details: RemoteIp | None = None


class Action(_Finding):
    action_type: str | None = None
    aws_api_call_action: ApiCall | None = None


class FindingService(_Finding):
    archived: bool = False
    event_first_seen: UtcTime | None = None
    action: Action | None = None


class Finding(_Finding):
    id: str = Field(min_length=1)
    arn: str | None = None
    type: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str | None = None
    severity: float = Field(ge=0, le=10)
    account_id: str
    region: str
    resource: Resource
    service: FindingService | None = None
    created_at: UtcTime
    updated_at: UtcTime


class FindingEvent(EventBridgeEvent[Finding]):
    pass


class FindingList(Payload):
    findings: list[Finding] = Field(alias="Findings")


def severity_of(score: float) -> Severity:
    """GuardDuty's score in AWS's published bands."""
    if score >= 9:
        return Severity.CRITICAL
    if score >= 7:
        return Severity.HIGH
    if score >= 4:
        return Severity.MEDIUM
    if score >= 1:
        return Severity.LOW
    return Severity.INFO


def fault_hint(finding: Finding) -> FaultHint | None:
    resource = finding.resource
    if resource.access_key_details is not None:
        return "credential-compromise"
    if finding.type.startswith("Recon:EC2/PortProbe"):
        return "security-group-exposure"
    if resource.instance_details is not None:
        return "instance-compromise"
    return None


def _others(resource: Resource) -> Iterable[TaggedDetails]:
    yield from resource.s3_bucket_details
    for details in (
        resource.rds_db_instance_details,
        resource.lambda_details,
        resource.eks_cluster_details,
        resource.ecs_cluster_details,
    ):
        if details is not None:
            yield details


def _service(resource: Resource) -> str | None:
    tags: list[Tag] = []
    if resource.instance_details is not None:
        tags.extend(resource.instance_details.tags)
    for details in _others(resource):
        tags.extend(details.tags)
    by_key = {tag.key.lower(): tag.value for tag in reversed(tags) if tag.value}
    return next((by_key[key] for key in SERVICE_TAGS if key in by_key), None)


def _resource(resource: Resource) -> str | None:
    if resource.access_key_details is not None and resource.access_key_details.access_key_id:
        return resource.access_key_details.access_key_id
    if resource.instance_details is not None and resource.instance_details.instance_id:
        return resource.instance_details.instance_id
    for details in _others(resource):
        name = details.name or details.db_instance_identifier or details.function_name
        if name:
            return name
    return None


def _labels(finding: Finding) -> dict[str, str]:
    resource = finding.resource
    labels = {
        "finding_type": finding.type,
        "resource_type": resource.resource_type,
        "account": finding.account_id,
        "region": finding.region,
    }
    if resource.access_key_details is not None:
        key = resource.access_key_details
        labels |= {"user_name": key.user_name or "", "access_key_id": key.access_key_id or ""}
    if resource.instance_details is not None:
        instance = resource.instance_details
        groups = [
            group.group_id
            for nic in instance.network_interfaces
            for group in nic.security_groups
            if group.group_id
        ]
        labels |= {"instance_id": instance.instance_id or "", "security_groups": ",".join(groups)}
    call = (
        finding.service.action.aws_api_call_action
        if finding.service and finding.service.action
        else None
    )
    if call is not None:
        labels["api"] = call.api or ""
        if call.remote_ip_details is not None:
            labels["remote_ip"] = call.remote_ip_details.ip_address_v4 or ""
    return {name: value for name, value in labels.items() if value}


def _console(finding: Finding) -> str:
    return (
        f"https://{finding.region}.console.aws.amazon.com/guardduty/home"
        f"?region={finding.region}#/findings?search=id%3D{finding.id}"
    )


def normalise(finding: Finding, raw: dict[str, JsonValue]) -> Alert:
    archived = finding.service is not None and finding.service.archived
    first_seen = finding.service.event_first_seen if finding.service else None
    return Alert(
        source=AlertSource.GUARDDUTY,
        status=AlertStatus.RESOLVED if archived else AlertStatus.FIRING,
        fingerprint=own_fingerprint(AlertSource.GUARDDUTY, finding.id),
        title=finding.title,
        description=finding.description or None,
        service=_service(finding.resource),
        resource=_resource(finding.resource),
        severity=severity_of(finding.severity),
        starts_at=first_seen or finding.created_at,
        ends_at=finding.updated_at if archived else None,
        labels=_labels(finding),
        links=web_links(("console", _console(finding))),
        fault_hint=fault_hint(finding),
        raw=raw,
    )


def _in_pascal_case(error: IngestError, prefix: str) -> IngestError:
    """``error`` with the fields under ``prefix`` named as the CLI writes them (``Id``, not
    ``id``): the models' first choice of name is EventBridge's camelCase."""

    def written(field: str) -> str:
        if not field.startswith(prefix):
            return field
        rest = re.sub(r"\.([a-z])", lambda m: "." + m.group(1).upper(), field[len(prefix) :])
        return prefix + rest

    first, *more = (ValidationIssue(written(i.field), i.message) for i in error.issues)
    return IngestError(first.field, first.message, more=tuple(more))


def recognises(document: JsonValue) -> bool:
    """True when ``document`` is a GuardDuty finding event or a ``get-findings`` output."""
    return is_event(document, DETAIL_TYPE) or (
        isinstance(document, dict) and "Findings" in document
    )


def read(document: JsonValue, options: IngestOptions, at: str = "") -> AlertBatch:
    """Every finding in ``document``."""
    if not isinstance(document, dict):
        raise IngestError(where(at), f"expected a JSON object, got {json_type(document)}")
    if "Findings" in document:
        try:
            listed = validate(FindingList, document, at)
        except IngestError as exc:
            raise _in_pascal_case(exc, join(at, "Findings")) from None
        alerts = tuple(
            normalise(finding, member(document, at, "Findings", index))
            for index, finding in enumerate(listed.findings)
        )
    elif "detail-type" in document:
        event = read_event(document, DETAIL_TYPE, FindingEvent, at)
        alerts = (normalise(event.detail, document),)
    else:
        raise IngestError(
            where(at),
            "not a GuardDuty finding: expected an EventBridge event (detail-type), the output "
            "of get-findings (Findings) or an SNS envelope",
        )
    return AlertBatch(source=AlertSource.GUARDDUTY, alerts=alerts)
