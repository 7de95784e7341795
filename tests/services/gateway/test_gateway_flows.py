"""The gateway end to end on a live, simulated estate: an incident the commander works, a
person approving (once) or rejecting its risky action, operators acknowledging, annotating and
resolving, and the live event stream with reconnects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatewaykit import Running, running_gateway, served
from services.aws.port import AwsPort

APPROVAL_SCENARIO = "deploy-then-sessions-db-latency"
"""Its fix (a database failover) needs a person's approval."""


def _until_approval(running: Running, limit: int = 40) -> dict[str, Any]:
    for _ in range(limit):
        running.gateway.live.advance(1)
        page = running.client.get("/v1/incidents", headers=running.auth("viewer")).json()
        waiting = [i for i in page["items"] if i["pending_approval"]]
        if waiting:
            incident: dict[str, Any] = waiting[0]
            return incident
    raise AssertionError(f"no approval asked for in {limit} steps")


@pytest.fixture
def approval(tmp_path: Path, aws: AwsPort) -> Iterator[tuple[Running, dict[str, Any]]]:
    # The estate is paused, so an approval expires one step after it is asked (its TTL is wall
    # time at the estate's speed); these tests answer before stepping again.
    with running_gateway(tmp_path, aws, demo_scenario=APPROVAL_SCENARIO) as running:
        yield running, _until_approval(running)


def test_an_approval_is_single_use_and_the_action_lands(
    approval: tuple[Running, dict[str, Any]],
) -> None:
    running, incident = approval
    client, iid = running.client, incident["id"]
    pending = incident["pending_approval"]
    assert incident["status"] == "awaiting_approval"
    assert pending["candidate"]["action"] == "failover-database"
    assert pending["expires_in_s"] is None  # the list carries no countdown: it would go stale
    detail = client.get(f"/v1/incidents/{iid}", headers=running.auth("viewer")).json()
    left = detail["pending_approval"]["expires_in_s"]  # wall seconds, for a countdown
    assert 0 < left <= running.settings.approval_ttl_s + running.gateway.live.step_wall_s

    approve = f"/v1/incidents/{iid}/approve"
    viewer = client.post(approve, json={"hash": pending["hash"]}, headers=running.auth("viewer"))
    assert viewer.status_code == 403
    wrong = client.post(
        f"/v1/incidents/{iid}/approve", json={"hash": "0" * 64}, headers=running.auth("approver")
    )
    assert wrong.status_code == 409
    assert wrong.json()["error"] == "conflict"

    granted = client.post(
        f"/v1/incidents/{iid}/approve",
        json={"hash": pending["hash"], "comment": "failover is safe now"},
        headers=running.auth("approver"),
    )
    assert granted.status_code == 200, granted.text
    assert granted.json() == {
        "incident_id": iid, "answer": "grant", "by": "approver", "status": "mitigating"
    }  # fmt: skip
    replay = client.post(
        f"/v1/incidents/{iid}/approve",
        json={"hash": pending["hash"]},
        headers=running.auth("admin"),
    )
    assert replay.status_code == 409

    actions = client.get(f"/v1/incidents/{iid}/actions", headers=running.auth("viewer")).json()
    assert [(a["action"], a["status"], a["approved_by"]) for a in actions] == [
        ("failover-database", "succeeded", "approver")
    ]
    audit = client.get(f"/v1/incidents/{iid}/audit", headers=running.auth("viewer")).json()
    kinds = [e["kind"] for e in audit]
    assert kinds.count("approval.granted") == 1
    assert kinds.index("approval.requested") < kinds.index("approval.granted")
    # Nobody had acknowledged it: the approver, who answered for it, owns it now.
    assert kinds.index("incident.acknowledged") < kinds.index("approval.granted")
    got = client.get(f"/v1/incidents/{iid}", headers=running.auth("viewer")).json()
    assert got["acknowledged_by"] == "approver"

    for _ in range(10):
        running.gateway.live.advance(1)
        status = client.get(f"/v1/incidents/{iid}", headers=running.auth("viewer")).json()["status"]
        if status == "resolved":
            break
    assert status == "resolved"
    timeline = client.get(f"/v1/incidents/{iid}/timeline", headers=running.auth("viewer")).json()
    said = [(t["actor"], t["text"]) for t in timeline]
    assert (
        "approver",
        f"approver approved {pending['candidate']['id']}: failover is safe now",
    ) in said
    assert said[-1] == ("resolve", "resolved")
    votes = client.get(f"/v1/incidents/{iid}/votes", headers=running.auth("viewer")).json()
    assert {v["agent"] for v in votes["votes"]} == {
        "detection", "diagnosis", "remediation", "finops", "security"
    }  # fmt: skip
    assert votes["decisions"][0]["outcome"] == "approval"
    assert {v["round"] for v in votes["votes"]} == {1}
    health = client.get("/v1/agents", headers=running.auth("viewer")).json()
    assert [a["agent"] for a in health] == [
        "detection", "diagnosis", "remediation", "finops", "security"
    ]  # fmt: skip
    assert all(a["votes"] > 0 and a["mean_latency_s"] > 0 for a in health)
    me = {role: client.get("/v1/me", headers=running.auth(role)).json() for role in running.keys}
    assert {role: m["can_approve"] for role, m in me.items()} == {
        "admin": True, "approver": True, "viewer": False, "responder": False, "ingest": False
    }  # fmt: skip
    assert {role: m["can_respond"] for role, m in me.items()} == {
        "admin": True, "approver": True, "viewer": False, "responder": True, "ingest": False
    }  # fmt: skip
    assert me["approver"] == {
        "subject": "approver", "roles": ["approver"], "via": "api-key", "can_approve": True,
        "can_respond": True,
    }  # fmt: skip
    series = client.get(f"/v1/incidents/{iid}/series", headers=running.auth("viewer")).json()
    assert {(m["service"], m["metric"]) for m in series["metrics"]} >= {("sessions-db", "latency")}
    chart = series["metrics"][0]
    assert chart["points"]
    assert chart["onset_at"] <= chart["points"][-1]["at"]
    assert [m["kind"] for m in series["marks"]] == ["confirmed", "action"]
    postmortem = client.get(f"/v1/incidents/{iid}/postmortem", headers=running.auth("viewer"))
    assert postmortem.headers["content-type"].startswith("text/markdown")
    assert "approved by approver" in postmortem.text
    assert client.post("/v1/audit/verify", headers=running.auth("admin")).json()["ok"] is True


def test_a_rejected_action_is_not_run_and_the_incident_moves_on(
    approval: tuple[Running, dict[str, Any]],
) -> None:
    running, incident = approval
    iid, digest = incident["id"], incident["pending_approval"]["hash"]
    rejected = running.client.post(
        f"/v1/incidents/{iid}/reject", json={"hash": digest}, headers=running.auth("approver")
    )
    assert rejected.status_code == 200
    assert rejected.json()["answer"] == "deny"
    after = running.client.get(f"/v1/incidents/{iid}", headers=running.auth("viewer")).json()
    assert (after["pending_approval"] or {}).get("hash") != digest
    actions = running.client.get(f"/v1/incidents/{iid}/actions", headers=running.auth("viewer"))
    assert "failover-database" not in [a["action"] for a in actions.json()]
    votes = running.client.get(f"/v1/incidents/{iid}/votes", headers=running.auth("viewer")).json()
    rounds = [d["round"] for d in votes["decisions"]]
    assert rounds[:2] == [1, 2]  # the next round voted on what was left
    for number in rounds:
        cast = [v for v in votes["votes"] if v["round"] == number]
        decided = next(d for d in votes["decisions"] if d["round"] == number)
        assert {v["candidate"] for v in cast} == set(decided["matrix"])


def test_an_unanswered_approval_expires_and_cannot_be_answered_after(
    approval: tuple[Running, dict[str, Any]],
) -> None:
    running, incident = approval
    iid, digest = incident["id"], incident["pending_approval"]["hash"]
    running.gateway.live.advance(1)  # past the TTL
    late = running.client.post(
        f"/v1/incidents/{iid}/approve", json={"hash": digest}, headers=running.auth("approver")
    )
    assert late.status_code == 409
    audit = running.client.get(f"/v1/incidents/{iid}/audit", headers=running.auth("viewer"))
    assert "approval.expired" in [e["kind"] for e in audit.json()]


def test_operators_acknowledge_annotate_and_resolve(
    approval: tuple[Running, dict[str, Any]],
) -> None:
    running, incident = approval
    client, iid = running.client, incident["id"]
    assert (
        client.post(f"/v1/incidents/{iid}/ack", headers=running.auth("viewer")).status_code == 403
    )
    first = client.post(f"/v1/incidents/{iid}/ack", headers=running.auth("responder")).json()
    again = client.post(f"/v1/incidents/{iid}/ack", headers=running.auth("admin")).json()
    assert (first["changed"], again["changed"]) == (True, False)
    got = client.get(f"/v1/incidents/{iid}", headers=running.auth("viewer")).json()
    assert got["acknowledged_by"] == "responder"

    assign = f"/v1/incidents/{iid}/assign"
    assert (
        client.post(assign, json={"to": "dba"}, headers=running.auth("viewer")).status_code == 403
    )
    handed = client.post(assign, json={"to": "dba"}, headers=running.auth("responder")).json()
    same = client.post(assign, json={"to": "dba"}, headers=running.auth("admin")).json()
    assert (handed["changed"], same["changed"]) == (True, False)
    bad = client.post(assign, json={"to": "a b"}, headers=running.auth("responder"))
    assert bad.status_code == 422
    got = client.get(f"/v1/incidents/{iid}", headers=running.auth("viewer")).json()
    assert got["acknowledged_by"] == "dba"

    note = client.post(
        f"/v1/incidents/{iid}/notes", json={"text": "paging the DBA"},
        headers=running.auth("responder"),
    )  # fmt: skip
    assert note.status_code == 200
    empty = client.post(
        f"/v1/incidents/{iid}/notes", json={"text": ""}, headers=running.auth("responder")
    )
    assert empty.status_code == 422
    assert empty.json()["fields"][0]["field"] == "body.text"

    resolved = client.post(
        f"/v1/incidents/{iid}/resolve", json={"reason": "fixed by hand"},
        headers=running.auth("responder"),
    ).json()  # fmt: skip
    assert (resolved["changed"], resolved["status"]) == (True, "resolved")
    assert client.post(
        f"/v1/incidents/{iid}/resolve", json={"reason": "again"}, headers=running.auth("admin")
    ).json()["changed"] is False  # fmt: skip
    late = client.post(
        f"/v1/incidents/{iid}/approve",
        json={"hash": incident["pending_approval"]["hash"]},
        headers=running.auth("approver"),
    )
    assert late.status_code == 409  # the pending approval went with the resolution
    timeline = client.get(f"/v1/incidents/{iid}/timeline", headers=running.auth("viewer")).json()
    texts = [t["text"] for t in timeline]
    assert "paging the DBA" in texts
    assert "responder assigned it to dba" in texts
    assert "resolved by responder: fixed by hand" in texts
    running.gateway.live.advance(3)  # a resolved incident stays resolved
    got = client.get(f"/v1/incidents/{iid}", headers=running.auth("viewer")).json()
    assert got["status"] == "resolved"
    missing = client.post("/v1/incidents/inc-nope/ack", headers=running.auth("responder"))
    assert missing.status_code == 404


def _read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if line.startswith(("id:", "event:", "data:")):
            name, _, value = line.partition(":")
            current[name] = value.strip()
        elif not line:
            if "data" in current:  # an id-only message (the first) sets a resume point only
                events.append({**current, "data": json.loads(current["data"])})
            current = {}
            if len(events) == count:
                return events
    return events


def test_live_events_stream_and_resume_after_a_reconnect(
    approval: tuple[Running, dict[str, Any]],
) -> None:
    running, incident = approval
    headers = running.auth("viewer")
    with served(running.app) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/v1/events").status_code == 401
        with http.stream("GET", "/v1/events", headers=headers) as response:
            head = next(line for line in response.iter_lines() if line)
        assert head == f"id: {running.gateway.trail.last_seq()}"  # a resume point at once
        with http.stream("GET", "/v1/events", params={"after": 0}, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            first = _read_events(response, 5)
        assert [int(e["id"]) for e in first] == [1, 2, 3, 4, 5]
        assert first[0]["event"] == first[0]["data"]["kind"]

        resume = {**headers, "Last-Event-ID": "3"}
        with http.stream("GET", "/v1/events", headers=resume) as response:
            assert [int(e["id"]) for e in _read_events(response, 2)] == [4, 5]

        with http.stream(
            "GET", "/v1/events", params={"incident": incident["id"]}, headers=headers
        ) as response:
            running.client.post(
                f"/v1/incidents/{incident['id']}/notes", json={"text": "live note"},
                headers=running.auth("responder"),
            )  # fmt: skip
            [event] = _read_events(response, 1)
        assert event["event"] == "note"
        assert event["data"]["data"]["text"] == "live note"
        assert event["data"]["actor"] == "responder"

        bad = http.get("/v1/events", headers={**headers, "Last-Event-ID": "yesterday"})
        assert bad.status_code == 400
