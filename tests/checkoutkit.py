"""The world's side of the foreign estate's checkout service (``estatekit``): its metrics,
published each period with PutMetricData as AWS would, degraded while revision 2 of its task
definition runs. A test injects a bad deploy by moving the service to revision 2; the
commander's rollback to revision 1 is what heals it.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

from estatekit import ForeignEstate

PERIOD_S = 5


class Checkout:
    """The world's side of checkout: publishes its metrics each period, degraded while
    revision 2 of its task definition runs."""

    def __init__(self, estate: ForeignEstate) -> None:
        self.estate = estate
        self.cloudwatch = estate.client("cloudwatch")
        self.ecs = estate.client("ecs")
        self.stop = threading.Event()
        self.bad_periods = 0
        self.random = random.Random(7)

    def revision(self) -> str:
        described = self.ecs.describe_services(
            cluster=self.estate.cluster, services=[self.estate.ecs_service]
        )
        return str(described["services"][0]["taskDefinition"]).rsplit(":", 1)[-1]

    def publish(self, at: datetime, bad: bool) -> None:
        jitter = self.random.uniform
        requests = 1000 + jitter(-30, 30)
        alb = [
            {"Name": "LoadBalancer", "Value": self.estate.load_balancer_dimension},
            {"Name": "TargetGroup", "Value": self.estate.checkout_target_group_dimension},
        ]
        ecs = [
            {"Name": "ClusterName", "Value": self.estate.cluster},
            {"Name": "ServiceName", "Value": self.estate.ecs_service},
        ]
        values = [
            ("AWS/ApplicationELB", "RequestCount", alb, requests),
            (
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                alb,
                requests * (0.3 if bad else 0.002 * jitter(0.5, 1.5)),
            ),
            (
                "AWS/ApplicationELB",
                "TargetResponseTime",
                alb,
                (1.9 if bad else 0.12) * jitter(0.95, 1.05),
            ),
            ("AWS/ECS", "CPUUtilization", ecs, 40 + jitter(-3, 3)),
            ("AWS/ECS", "MemoryUtilization", ecs, 55 + jitter(-2, 2)),
        ]
        for namespace in {v[0] for v in values}:
            self.cloudwatch.put_metric_data(
                Namespace=namespace,
                MetricData=[
                    {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": value}
                    for ns, name, dims, value in values
                    if ns == namespace
                ],
            )

    def backfill(self, periods: int) -> None:
        now = _period_start(datetime.now(UTC))
        for k in range(periods, 0, -1):
            self.publish(now - timedelta(seconds=k * PERIOD_S), bad=False)

    def run(self) -> None:
        while not self.stop.is_set():
            bad = self.revision() == "2"
            self.bad_periods += bad
            self.publish(_period_start(datetime.now(UTC)), bad)
            self.stop.wait(PERIOD_S)


def _period_start(at: datetime) -> datetime:
    return datetime.fromtimestamp(int(at.timestamp()) // PERIOD_S * PERIOD_S, UTC)


class Running:
    """``Checkout`` publishing in a thread of its own, 40 healthy periods of history first."""

    def __init__(self, estate: ForeignEstate) -> None:
        self.world = Checkout(estate)
        self.world.backfill(40)
        self.thread = threading.Thread(target=self.world.run, daemon=True)

    def __enter__(self) -> Checkout:
        self.thread.start()
        return self.world

    def __exit__(self, *_: object) -> None:
        self.world.stop.set()
        self.thread.join(10)
