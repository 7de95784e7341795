"""The cluster end to end, every part its own process: two gateways, three workers and the
simulated estate, on the machine's Redis and PostgreSQL.

What a user of the cluster would notice: an incident worked to the end with one action, seen
from either gateway; alerts given to either gateway all accounted for; the events of a worker
reaching a client of the other gateway; an operation answered by whichever worker commands;
alerts about no service of the estate on one triage incident, seen from either gateway.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx

from clusterkit import Cluster, cluster, wait_for
from services.aws.port import AwsPort


def _alert(fingerprint: str, service: str = "checkout") -> dict[str, Any]:
    return {
        "title": f"{service} error rate above 5%",
        "service": service,
        "severity": "high",
        "status": "firing",
        "fingerprint": fingerprint,
    }


def _follow(url: str, key: str, seen: list[dict[str, Any]], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(10, read=60)) as client,
            client.stream("GET", f"{url}/v1/events", headers=headers) as response,
        ):
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))
    except httpx.HTTPError:
        return  # the gateway stopped at the end of the test


def _accounted(running: Cluster) -> set[str]:
    """Fingerprints the trail shows as opening or joining an incident, or as unrouted."""
    rows = running.sql(
        "SELECT kind, data FROM ic_audit_log"
        " WHERE kind IN ('incident.opened', 'alert.attached', 'alert.unrouted')"
    )
    out = set()
    for kind, data in rows:
        entry = json.loads(data)  # stored as its canonical JSON text (the hash covers it)
        out.add(entry["fingerprint"] if kind == "alert.unrouted" else entry["alert"]["fingerprint"])
    return out


def _incidents(running: Cluster) -> list[dict[str, Any]]:
    """The incident list as the first gateway serves it."""
    with running.client(0) as client:
        page: dict[str, Any] = client.get("/v1/incidents", params={"limit": 200}).json()
    return list(page["items"])


def test_two_gateways_three_workers_work_an_incident_and_account_for_every_alert(
    tmp_path: Path, aws: AwsPort
) -> None:
    with cluster(tmp_path, aws) as running:
        for name in ("w1", "w2", "w3"):
            running.worker(name)
        running.gateway()
        second = running.gateway()
        seen: list[dict[str, Any]] = []
        stop = threading.Event()
        follower = threading.Thread(
            target=_follow, args=(second, running.key, seen, stop), daemon=True
        )
        follower.start()
        with running.client(1) as client:  # no estate yet: metrics still scrape, with no count
            assert client.get("/metrics").status_code == 200
        # One key store for every gateway: made on one, used on the other, revoked on the first.
        with running.client(0) as client:
            made = client.post("/v1/keys", json={"name": "pager", "roles": ["viewer"]}).json()
        viewer = {"Authorization": f"Bearer {made['key']}"}
        assert httpx.get(f"{second}/v1/me", headers=viewer).status_code == 200
        with running.client(0) as client:
            assert client.delete(f"/v1/keys/{made['id']}").status_code == 204
        assert httpx.get(f"{second}/v1/me", headers=viewer).status_code == 401

        running.world("checkout-bad-deploy", speed=60)
        # A loaded machine can take a minute to start the world's process and build its estate.
        wait_for(
            "the world to register its estate",
            lambda: running.sql("SELECT 1 FROM ic_estates"),
            timeout=180,
        )
        leader = wait_for("a worker to command the estate", running.leader, timeout=60)
        assert leader in {"w1", "w2", "w3"}

        # Alerts to both gateways while the estate runs: each answered 202 only once in Redis.
        sent: list[str] = []
        for index in range(40):
            client = running.client(index % 2)
            fingerprint = f"load-{index}"
            with client:
                answer = client.post("/v1/alerts/generic", json=_alert(fingerprint))
            assert answer.status_code == 202, answer.text
            sent.append(f"generic:{fingerprint}")
        # Alerts about a service the estate does not have: one triage incident, for a person.
        for index in range(3):
            with running.client(index % 2) as client:
                answer = client.post(
                    "/v1/alerts/generic", json=_alert(f"legacy-{index}", "billing-legacy")
                )
            assert answer.status_code == 202, answer.text
            sent.append(f"generic:legacy-{index}")

        def triaged() -> dict[str, Any] | None:
            with running.client(1) as client:
                items = client.get("/v1/incidents", params={"limit": 200}).json()["items"]
            found = [i for i in items if i["kind"] == "triage"]
            return found[0] if found and found[0]["alerts"] == 3 else None

        triage = wait_for("the unrouted alerts' triage incident", triaged, timeout=60)
        assert len([i for i in _incidents(running) if i["kind"] == "triage"]) == 1
        assert (triage["status"], triage["severity"], triage["services"]) == (
            "escalated", "sev2", [],
        )  # fmt: skip

        def resolved() -> str | None:
            """The incident the bad deploy's alarms joined, once the action worked."""
            done = running.sql("SELECT key FROM ic_actions WHERE status = 'done'")
            if not done:
                return None
            incident_id = str(done[0][0]).split(":", 1)[0]
            with running.client(1) as client:
                status = client.get(f"/v1/incidents/{incident_id}").json()["status"]
            return incident_id if status == "resolved" else None

        incident = wait_for("the bad deploy's incident to be resolved", resolved, timeout=180)
        with running.client(0) as client:
            actions = client.get(f"/v1/incidents/{incident}/actions").json()
            acked = client.post(f"/v1/incidents/{incident}/ack")
            missing = client.post("/v1/incidents/inc-nosuchthing/ack")
        assert [(a["action"], a["status"]) for a in actions] == [
            ("rollback-deployment", "succeeded")
        ]
        assert acked.status_code == 200
        assert acked.json()["changed"] is True  # the commanding worker answered
        assert missing.status_code == 404

        with running.client(0) as client:
            assert client.get(f"/v1/incidents/{triage['id']}/actions").json() == []
        ledger = running.sql("SELECT key, status FROM ic_actions")
        assert [status for _, status in ledger] == ["done"]  # one AWS call, made once
        assert set(sent) <= wait_for(
            "every accepted alert to be accounted for",
            lambda: (got := _accounted(running)) >= set(sent) and got,
        )
        wait_for(
            "the worker's entries to reach the other gateway's event stream",
            lambda: any(e.get("kind") == "incident.acknowledged" for e in seen),
        )
        stop.set()
        kinds = {e["kind"] for e in seen}
        assert {"incident.opened", "vote", "action", "incident.acknowledged"} <= kinds
        seqs = [e["seq"] for e in seen]
        assert seqs == sorted(set(seqs))  # in order, none twice
