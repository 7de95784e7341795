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
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from checkoutkit import PERIOD_S, Checkout, Running
from estatekit import KEY_ID, SECRET, ForeignEstate
from servekit import Served, free_port, serve

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


@pytest.fixture
def checkout(foreign: ForeignEstate) -> Iterator[Checkout]:
    with Running(foreign) as world:
        yield world


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

    # A restart on the same estate file commands the same run: the incident is adopted as it
    # ended (not closed as another run's), and served whole from the state directory.
    with serve(tmp_path, env) as served:
        again = served.get(f"/v1/incidents/{incident['id']}", key).json()
        assert (again["status"], again["hypotheses"]) == ("resolved", detail["hypotheses"])
        assert served.get(f"/v1/incidents/{incident['id']}/actions", key).json() == actions


def test_serve_refuses_an_estate_naming_what_the_account_lacks_and_starts_nothing(
    tmp_path: Path, moto_url: str, foreign: ForeignEstate
) -> None:
    estate_file = tmp_path / "estate.yaml"
    estate_file.write_text(
        "version: 1\nname: shop\nservices:\n"
        "  checkout:\n    kind: ecs-service\n"
        f"    resources: {{ecs_cluster: {foreign.cluster}, ecs_service: no-such-service}}\n"
        "  orders-db:\n    kind: rds\n    resources: {db_instance: no-such-db}\n",
        encoding="utf-8",
    )
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", "serve",
         "--estate-file", str(estate_file), "--port", str(port)],
        env={**os.environ, **_aws_env(moto_url), "IC_STATE_DIR": str(tmp_path / "state"),
             "IC_API_KEYS_DB": str(tmp_path / "keys.sqlite"),
             "IC_AUDIT_DB": str(tmp_path / "audit.sqlite")},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{estate_file}: services.checkout.resources.ecs_service: no active ECS service" in (
        done.stderr
    )
    assert f"{estate_file}: services.orders-db.resources.db_instance: no RDS instance" in (
        done.stderr
    )
    assert "Uvicorn running" not in done.stderr
    assert not (tmp_path / "keys.sqlite").exists()  # no key store, no first key: nothing ran
