"""What AWS publishes for each kind of resource, under the real namespaces, names and units.

- ecs-service: AWS/ECS CPUUtilization, MemoryUtilization; ECS/ContainerInsights RunningTaskCount
- asg: AWS/EC2 CPUUtilization (AutoScalingGroupName), CWAgent mem_used_percent;
  AWS/AutoScaling GroupInServiceInstances
- both: AWS/ApplicationELB RequestCount, TargetResponseTime, HTTPCode_Target_5XX_Count
- rds: AWS/RDS CPUUtilization, DatabaseConnections, ReadLatency, WriteLatency, FreeStorageSpace
- lambda: AWS/Lambda Invocations, Errors, Duration, Throttles, ConcurrentExecutions
"""

from __future__ import annotations

from dataclasses import dataclass

from services.aws.resources import Dimension, ServiceResources, metric_ids
from services.scenario.model import ServiceKind
from services.simulator.dynamics import Sample

_GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Datum:
    metric: Dimension
    value: float
    unit: str


def datums(res: ServiceResources, got: Sample, step_s: int, jitter: list[float]) -> list[Datum]:
    """The metric data points of one service for one step; ``jitter`` is relative noise."""
    ids = metric_ids(res)
    noisy = iter(jitter)

    def n(value: float, cap: float | None = None) -> float:
        value = max(0.0, value * (1.0 + next(noisy, 0.0)))
        return min(cap, value) if cap is not None else value

    requests = got.rps * step_s
    out: list[Datum] = []
    if res.kind in (ServiceKind.ECS_SERVICE, ServiceKind.ASG):
        out.append(Datum(ids["cpu"], n(got.cpu, 100.0), "Percent"))
        if "memory" in ids:
            out.append(Datum(ids["memory"], n(got.memory, 100.0), "Percent"))
        out.append(Datum(ids["capacity"], float(got.capacity), "Count"))
        out.append(Datum(ids["requests"], round(n(requests)), "Count"))
        out.append(Datum(ids["latency"], n(got.latency_ms) / 1000.0, "Seconds"))
        out.append(Datum(ids["errors"], round(n(requests * got.error_rate / 100.0)), "Count"))
    elif res.kind is ServiceKind.RDS:
        out.append(Datum(ids["cpu"], n(got.cpu, 100.0), "Percent"))
        out.append(Datum(ids["connections"], round(n(got.connections)), "Count"))
        out.append(Datum(ids["latency"], n(got.latency_ms) / 1000.0, "Seconds"))
        out.append(Datum(ids["write_latency"], n(got.latency_ms * 1.3) / 1000.0, "Seconds"))
        out.append(Datum(ids["free_storage"], got.free_storage_gib * _GIB, "Bytes"))
    elif res.kind is ServiceKind.LAMBDA:
        invocations = requests * (1.0 - got.throttle_rate)
        function_errors = max(0.0, got.error_rate - got.throttle_rate * 100.0)
        out.append(Datum(ids["requests"], round(n(invocations)), "Count"))
        out.append(Datum(ids["errors"], round(n(invocations * function_errors / 100.0)), "Count"))
        out.append(Datum(ids["latency"], n(got.latency_ms), "Milliseconds"))
        out.append(Datum(ids["throttles"], round(requests * got.throttle_rate), "Count"))
        out.append(Datum(ids["concurrency"], round(n(got.concurrency)), "Count"))
    return out
