"""EventBridge events as AWS delivers them: GuardDuty findings, alarm state changes, and
CloudTrail API calls. The shapes follow AWS's documented event schemas, so whatever consumes
them (the gateway's EventBridge ingest) reads simulator output and real deliveries alike.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from services.aws.resources import Estate
from services.simulator.alarms import AlarmSpec, AlarmState

ACCOUNT = "123456789012"
_SEVERITY = {"CryptoCurrency": 8.0, "UnauthorizedAccess": 8.0, "Recon": 5.0}


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def _envelope(
    detail_type: str, source: str, ts: datetime, region: str, resources: list[str], detail: Any
) -> dict[str, Any]:
    digest = _id(detail_type, source, _iso(ts), json.dumps(detail, sort_keys=True, default=str))
    return {
        "version": "0",
        "id": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": _iso(ts),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def alarm_state_change(
    estate: Estate,
    alarm_name: str,
    spec: AlarmSpec,
    previous: AlarmState,
    state: AlarmState,
    recent: list[float],
    ts: datetime,
) -> dict[str, Any]:
    arn = f"arn:aws:cloudwatch:{estate.region}:{ACCOUNT}:alarm:{alarm_name}"
    verb = "was" if state == "ALARM" else "was not"
    relation = "greater" if spec.comparison == "GreaterThanThreshold" else "less"
    reason = (
        f"Threshold Crossed: {spec.datapoints_to_alarm} out of the last "
        f"{spec.evaluation_periods} datapoints {verb} {relation} than the threshold "
        f"({spec.threshold})"
    )
    reason_data = {
        "version": "1.0",
        "queryDate": ts.isoformat(),
        "statistic": spec.metric.stat,
        "period": spec.period_s,
        "recentDatapoints": recent,
        "threshold": spec.threshold,
    }
    detail = {
        "alarmName": alarm_name,
        "configuration": {
            "description": f"{spec.metric.name} SLO alarm (incident-commander)",
            "metrics": [
                {
                    "id": _id(alarm_name)[:12],
                    "metricStat": {
                        "metric": {
                            "dimensions": dict(spec.metric.dimensions),
                            "name": spec.metric.name,
                            "namespace": spec.metric.namespace,
                        },
                        "period": spec.period_s,
                        "stat": spec.metric.stat,
                    },
                    "returnData": True,
                }
            ],
        },
        "previousState": {"value": previous},
        "state": {
            "reason": reason,
            "reasonData": json.dumps(reason_data),
            "timestamp": ts.isoformat(),
            "value": state,
        },
    }
    return _envelope(
        "CloudWatch Alarm State Change", "aws.cloudwatch", ts, estate.region, [arn], detail
    )


def guardduty_finding(
    estate: Estate,
    finding_type: str,
    resource: dict[str, Any],
    title: str,
    description: str,
    first_seen: datetime,
    ts: datetime,
    count: int,
    action: dict[str, Any] | None = None,
) -> dict[str, Any]:
    detector = _id("detector", estate.prefix)
    detector_arn = f"arn:aws:guardduty:{estate.region}:{ACCOUNT}:detector/{detector}"
    finding_id = _id("finding", estate.prefix, finding_type, json.dumps(resource, sort_keys=True))
    detail = {
        "schemaVersion": "2.0",
        "accountId": ACCOUNT,
        "region": estate.region,
        "partition": "aws",
        "id": finding_id,
        "arn": f"{detector_arn}/finding/{finding_id}",
        "type": finding_type,
        "resource": resource,
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector,
            "archived": False,
            "resourceRole": "TARGET",
            "count": count,
            "eventFirstSeen": _iso(first_seen),
            "eventLastSeen": _iso(ts),
            **({"action": action} if action else {}),
        },
        "severity": _SEVERITY.get(finding_type.split(":", 1)[0], 5.0),
        "createdAt": _iso(first_seen),
        "updatedAt": _iso(ts),
        "title": title,
        "description": description,
    }
    return _envelope("GuardDuty Finding", "aws.guardduty", ts, estate.region, [], detail)


def cloudtrail_call(
    estate: Estate,
    event_source: str,
    event_name: str,
    user: str,
    request: dict[str, Any],
    ts: datetime,
    source_ip: str = "203.0.113.10",
) -> dict[str, Any]:
    detail = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "userName": user,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
        },
        "eventTime": _iso(ts),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": estate.region,
        "sourceIPAddress": source_ip,
        "requestParameters": request,
        "eventID": _id(event_name, _iso(ts), json.dumps(request, sort_keys=True)),
        "eventType": "AwsApiCall",
    }
    return _envelope(
        "AWS API Call via CloudTrail",
        f"aws.{event_source.split('.', 1)[0]}",
        ts,
        estate.region,
        [],
        detail,
    )
