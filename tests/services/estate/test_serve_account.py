"""The commander on an account it did not build, end to end, as a user would run it.

A moto server process holds a foreign estate built with plain boto3 (``estatekit``).
``estate discover`` drafts its estate file; ``serve`` runs in account mode on that file with the
AWS endpoint pointed at the emulator (boto3's own ``AWS_ENDPOINT_URL``). The test then injects a
fault itself, as the world would: a bad deploy of checkout (its service moved to task definition
revision 2), degraded ALB metrics published with PutMetricData for as long as revision 2 runs,
and the alerts a monitoring stack would send (the 5xx alarm's state change in EventBridge's
shape, an Alertmanager alert with routing labels). The commander must open one incident,
diagnose the bad deploy, roll checkout back with a real ECS call (seen in the emulator), and
verify the recovery against the metrics the test keeps publishing.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from estatekit import KEY_ID, SECRET, ForeignEstate
from servekit import Served, serve

PERIOD_S = 5
PAYLOADS = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "payloads"


def _aws_env(url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "IC_AWS_MODE": "account",
        "IC_AWS_REGION": "us-east-1",
    }


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


@pytest.fixture
def checkout(foreign: ForeignEstate) -> Iterator[Checkout]:
    world = Checkout(foreign)
    world.backfill(40)
    thread = threading.Thread(target=world.run, daemon=True)
    thread.start()
    yield world
    world.stop.set()
    thread.join(10)


def _discover(tmp_path: Path, url: str) -> Path:
    out = tmp_path / "estate.yaml"
    command = [sys.executable, "-c", "from services.cli import main; main()"]
    done = subprocess.run(
        [*command, "estate", "discover", "--out", str(out), "--name", "shop",
         "--period", f"{PERIOD_S}s"],
        env={**os.environ, **_aws_env(url)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def _alarm_event(estate: ForeignEstate) -> dict[str, Any]:
    """The 5xx alarm of checkout going to ALARM, as EventBridge delivers it."""
    event = json.loads(
        (
            PAYLOADS / "aws_cloudwatch_alarm_state_change_eventbridge_single_metric.awsdocs.json"
        ).read_text(encoding="utf-8")
    )
    name = estate.checkout_alarms["errors"]
    event["time"] = datetime.now(UTC).isoformat()
    event["resources"] = [f"arn:aws:cloudwatch:us-east-1:{estate.account_id}:alarm:{name}"]
    event["detail"]["alarmName"] = name
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] = {
        "dimensions": {
            "LoadBalancer": estate.load_balancer_dimension,
            "TargetGroup": estate.checkout_target_group_dimension,
        },
        "name": "HTTPCode_Target_5XX_Count",
        "namespace": "AWS/ApplicationELB",
    }
    return event


def _alertmanager() -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "incident-commander",
        "groupKey": '{}:{alertname="CheckoutErrors"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "CheckoutErrors",
                    "service": "checkout",
                    "severity": "page",
                },
                "annotations": {"summary": "checkout 5xx above 5 %"},
                "startsAt": datetime.now(UTC).isoformat(),
                "fingerprint": "c0ffee01",
            }
        ],
    }


def _wait_for(served: Served, key: str, timeout: float) -> list[dict[str, Any]]:
    """The incident list once an incident touching checkout has ended."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        items = served.get("/v1/incidents", key).json()["items"]
        if any(
            "checkout" in i["services"] and i["status"] in {"resolved", "escalated"} for i in items
        ):
            return items
        time.sleep(1)
    raise AssertionError(
        f"no incident on checkout ended in {timeout:g} s: {items}\n{served.output}"
    )


def test_serve_in_account_mode_works_a_bad_deploy_on_a_foreign_estate(
    tmp_path: Path, moto_url: str, foreign: ForeignEstate, checkout: Checkout
) -> None:
    estate_file = _discover(tmp_path, moto_url)
    spec = yaml.safe_load(estate_file.read_text(encoding="utf-8"))
    assert spec["services"]["checkout"]["kind"] == "ecs-service"

    env = {**_aws_env(moto_url), "IC_ESTATE_FILE": str(estate_file)}
    with serve(tmp_path, env) as served:
        key = served.key()
        ecs = foreign.client("ecs")
        ecs.update_service(
            cluster=foreign.cluster, service=foreign.ecs_service,
            taskDefinition=foreign.task_definition_arns[1],
        )  # fmt: skip
        while checkout.bad_periods < 2:  # the alerts fire once the fault shows
            time.sleep(0.5)
        alarm = served.post("/v1/alerts/cloudwatch", key, json=_alarm_event(foreign))
        assert alarm.status_code == 202, alarm.text
        page = served.post("/v1/alerts/alertmanager", key, json=_alertmanager())
        assert page.status_code == 202, page.text

        items = _wait_for(served, key, timeout=240)
        about_checkout = [i for i in items if "checkout" in i["services"]]
        worked = [i for i in about_checkout if i["status"] not in {"noise", "closed"}]
        assert len(worked) == 1, about_checkout
        [incident] = worked
        assert incident["status"] == "resolved", served.get(
            f"/v1/incidents/{incident['id']}/timeline", key
        ).text
        assert incident["alerts"] >= 2  # the alarm and the page joined it

        detail = served.get(f"/v1/incidents/{incident['id']}", key).json()
        top = detail["hypotheses"][0]
        assert (top["service"], top["fault"]) == ("checkout", "bad-deploy")
        actions = served.get(f"/v1/incidents/{incident['id']}/actions", key).json()
        rollbacks = [a for a in actions if a["action"] == "rollback-deployment"]
        assert [a["status"] for a in rollbacks][:1] == ["succeeded"], actions
        assert all(a["service"] == "checkout" for a in actions), actions

    # The rollback is a real ECS call: the emulator runs revision 1 again.
    assert checkout.revision() == "1"
