"""A cluster commanding a real estate: ``watch`` keeps the clock of the foreign estate's file
(no simulation anywhere), two workers take turns on its lease, a gateway takes the alerts. The
bad deploy the test injects is worked by whichever worker commands: rolled back with a real
ECS call and verified, as in one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from checkoutkit import Running
from clusterkit import cluster, wait_for
from estatekit import KEY_ID, SECRET, ForeignEstate


def test_a_cluster_watches_a_foreign_estate_and_works_its_bad_deploy(
    tmp_path: Path, moto_url: str, foreign: ForeignEstate
) -> None:
    aws = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    estate_file = tmp_path / "estate.yaml"
    with cluster(tmp_path, moto_url, **aws, IC_ESTATE_FILE=str(estate_file)) as running:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "estate", "discover", "--name", "shop",
             "--period", "5s", "--out", str(estate_file)],
            env={**os.environ, **running.env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        gateway = running.gateway()
        running.worker("w1")
        running.worker("w2")
        running.start("watch", "watch")
        wait_for("the estate registered", lambda: running.sql("SELECT 1 FROM ic_estates"))
        # A worker has read what runs before the deploy: a deploy made before the commander
        # first looked is not one it saw happen (see docs/estate.md, "Change history").
        wait_for(
            "a worker's first look at the estate",
            lambda: running.sql("SELECT 1 FROM ic_revisions"),
            timeout=120,
        )
        with Running(foreign) as world, running.client() as api:
            foreign.client("ecs").update_service(
                cluster=foreign.cluster, service=foreign.ecs_service,
                taskDefinition=foreign.task_definition_arns[1],
            )  # fmt: skip
            wait_for("the fault to show", lambda: world.bad_periods >= 2, timeout=60)
            alert = {
                "version": "4", "status": "firing",
                "alerts": [{
                    "status": "firing", "labels": {"alertname": "CheckoutErrors",
                                                   "service": "checkout"},
                    "annotations": {}, "startsAt": "2026-12-02T10:00:00Z",
                    "fingerprint": "cluster01",
                }],
            }  # fmt: skip
            assert api.post("/v1/alerts/alertmanager", json=alert).status_code == 202

            def resolved() -> dict[str, object] | None:
                items = api.get("/v1/incidents", params={"service": "checkout"}).json()["items"]
                return next((i for i in items if i["status"] == "resolved"), None)

            try:
                incident = wait_for("checkout's incident resolved", resolved, timeout=240)
            except AssertionError as exc:  # say where each incident stood, and its timeline
                listed = api.get("/v1/incidents").json()["items"]
                stood = [
                    (i["id"], i["status"], i["reason"], i["services"],
                     [t["text"] for t in api.get(f"/v1/incidents/{i['id']}/timeline").json()])
                    for i in listed
                ]  # fmt: skip
                raise AssertionError(f"{exc}; bad periods {world.bad_periods}; {stood}") from None
            actions = api.get(f"/v1/incidents/{incident['id']}/actions").json()
            assert [a["action"] for a in actions if a["status"] == "succeeded"][:1] == [
                "rollback-deployment"
            ], actions
            assert world.revision() == "1"  # the rollback, seen in the emulator
        assert httpx.get(f"{gateway}/readyz", timeout=5).status_code == 200
