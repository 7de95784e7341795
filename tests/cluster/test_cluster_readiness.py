"""Readiness in the cluster: a gateway is ready while some worker commands the estate and is
getting somewhere. A worker that holds the lease (its heartbeat renews it) but finishes no turn
(here: stopped with SIGSTOP under a lease that outlives the test) makes every gateway answer
``/readyz`` with 503 and says which worker; it is ready again once that worker moves on."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from clusterkit import cluster, wait_for
from services.aws.port import AwsPort


def _readiness(client: httpx.Client, status: int) -> httpx.Response | None:
    answer = client.get("/readyz")
    return answer if answer.status_code == status else None


def test_a_commanding_worker_that_gets_nowhere_makes_the_gateways_unready(
    tmp_path: Path, aws: AwsPort
) -> None:
    with cluster(tmp_path, aws, IC_LEASE_TTL_S="300", IC_WORKER_STALL_S="2") as running:
        worker = running.worker("w1")
        running.gateway()
        running.world("checkout-bad-deploy", speed=15)
        wait_for("w1 to command the estate", lambda: running.leader() == "w1", timeout=90)
        with running.client() as client:
            wait_for("the gateway to be ready", lambda: _readiness(client, 200), timeout=30)

            worker.send_signal(signal.SIGSTOP)  # alive and holding the lease, doing nothing
            try:
                answer = wait_for("readiness to fail", lambda: _readiness(client, 503), 30)
                body = answer.json()
                assert body["status"] == "degraded"
                assert body["last_error"] == (
                    "worker w1 commands the estate but has finished no turn in 2 s"
                )
                assert running.leader() == "w1"  # nobody took over: the lease is still held
            finally:
                worker.send_signal(signal.SIGCONT)

            wait_for("the gateway to be ready again", lambda: _readiness(client, 200), 30)
