"""SLO alarms on each service, and their evaluation where the endpoint does not evaluate them.

The alarms are real ``PutMetricAlarm`` definitions. An AWS account evaluates them itself and
sends "CloudWatch Alarm State Change" events; the embedded emulator and LocalStack store them
but do not evaluate, so the simulator applies CloudWatch's own rule (M of N datapoints beyond
the threshold) to the values it publishes and records the outcome with ``SetAlarmState``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from services.aws.resources import Dimension, ServiceResources, metric_ids
from services.scenario.model import ServiceKind

if TYPE_CHECKING:
    from services.simulator.dynamics import Profile

AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    metric: Dimension
    threshold: float
    comparison: Literal["GreaterThanThreshold", "LessThanThreshold"]
    period_s: int = 60
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 2

    def put_kwargs(self, name: str) -> dict[str, object]:
        return {
            "AlarmName": name,
            "AlarmDescription": f"{self.metric.name} SLO alarm (incident-commander)",
            "Namespace": self.metric.namespace,
            "MetricName": self.metric.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.metric.dimensions],
            "Statistic": self.metric.stat,
            "Period": self.period_s,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison,
            "TreatMissingData": "notBreaching",
        }

    def breaching(self, value: float) -> bool:
        if self.comparison == "GreaterThanThreshold":
            return value > self.threshold
        return value < self.threshold


def alarm_specs(
    res: ServiceResources, profile: Profile, period_s: int = 60
) -> dict[str, AlarmSpec]:
    """The SLO alarms of one service, by role, with thresholds from its baseline."""
    ids = metric_ids(res)
    requests_per_period = profile.rps * period_s
    # 5xx alarm: errors beyond twice the baseline share plus two percentage points.
    error_share = (2.0 * profile.error_rate + 2.0) / 100.0
    specs: dict[str, AlarmSpec] = {}

    def add(role: str, metric_role: str, threshold: float, less: bool = False) -> None:
        specs[role] = AlarmSpec(
            ids[metric_role],
            threshold,
            "LessThanThreshold" if less else "GreaterThanThreshold",
            period_s,
        )

    if res.kind in (ServiceKind.ECS_SERVICE, ServiceKind.ASG, ServiceKind.LAMBDA):
        add("errors", "errors", max(5.0, requests_per_period * error_share))
    if res.kind in (ServiceKind.ECS_SERVICE, ServiceKind.ASG):
        add("latency", "latency", profile.latency_ms * 2.0 / 1000.0)
        add("cpu", "cpu", 85.0)
    if res.kind is ServiceKind.LAMBDA:
        add("latency", "latency", profile.latency_ms * 2.0)
        add("throttles", "throttles", 0.0)
    if res.kind is ServiceKind.RDS:
        add("cpu", "cpu", 85.0)
        add("latency", "latency", profile.latency_ms * 3.0 / 1000.0)
        add("connections", "connections", 0.9 * profile.max_connections)
        add("storage", "free_storage", 0.1 * profile.free_storage_gib * 1024**3, less=True)
    return specs


@dataclass(slots=True)
class AlarmEvaluator:
    """CloudWatch's M-of-N rule over the datapoints of one alarm."""

    spec: AlarmSpec
    state: AlarmState = "INSUFFICIENT_DATA"
    _window: deque[bool] = field(default_factory=deque)

    def observe(self, value: float) -> AlarmState | None:
        """Add one datapoint; return the new state when it changed, else None."""
        self._window.append(self.spec.breaching(value))
        while len(self._window) > self.spec.evaluation_periods:
            self._window.popleft()
        breaching = sum(self._window)
        new: AlarmState = "ALARM" if breaching >= self.spec.datapoints_to_alarm else "OK"
        if new == self.state:
            return None
        self.state = new
        return new
