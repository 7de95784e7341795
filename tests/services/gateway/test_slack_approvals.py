"""Paging and approvals from chat, end to end: a live gateway on the approval scenario, its
notifier posting the approval request to a Slack app (a loopback receiver) and paging a
PagerDuty that is down; Slack's signed button clicks coming back to the gateway. A good click
runs the action; every bad one is refused and recorded, and the incident finishes whatever
the pager does."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from gatewaykit import Running, running_gateway
from receiverkit import Receiver, Reply, nothing_listening, receiving
from services.aws.port import AwsPort

APPROVAL_SCENARIO = "deploy-then-sessions-db-latency"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ROUTE = "/v1/integrations/slack/interactions"


def _until(predicate: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.02)
    raise AssertionError(f"no {what} in {timeout:g} s")


@pytest.fixture
def slack() -> Iterator[Receiver]:
    with receiving(Reply(200, body={"ok": True, "ts": "1.2"})) as receiver:
        yield receiver


@pytest.fixture
def running(tmp_path: Path, aws: AwsPort, slack: Receiver) -> Iterator[Running]:
    with running_gateway(
        tmp_path, aws, demo_scenario=APPROVAL_SCENARIO,
        slack_bot_token="xoxb-test", slack_channel="C42", slack_api_url=slack.url,
        slack_signing_secret=SECRET, slack_approvers="U1=alice,U2=bob:responder",
        pagerduty_default_routing_key="K" * 32, pagerduty_events_url=nothing_listening(),
        pagerduty_min_severity="sev4", notify_max_attempts=2, notify_backoff_s=0.01,
        notify_cursor_file=tmp_path / "notify-cursor.json",
    ) as running:  # fmt: skip
        yield running


def _approval_posted(running: Running, slack: Receiver) -> tuple[str, dict[str, Any]]:
    """Step the estate until an approval is asked; the button value the Slack app got."""
    for _ in range(40):
        running.gateway.live.advance(1)
        page = running.client.get("/v1/incidents", headers=running.auth("viewer")).json()
        if waiting := [i for i in page["items"] if i["pending_approval"]]:
            break
    else:
        raise AssertionError("no approval asked for in 40 steps")
    posted = _until(lambda: [r for r in slack.received if r.path == "/chat.postMessage"], "post")
    [message] = posted
    [button, _] = message.json()["blocks"][1]["elements"]
    return waiting[0]["id"], json.loads(button["value"])


def _click(
    value: dict[str, Any], *, user: str = "U1", action: str = "approve",
    secret: str = SECRET, age_s: float = 0, response_url: str | None = None,
) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    payload = {
        "type": "block_actions", "user": {"id": user}, "team": {"id": "T1"},
        "actions": [{"action_id": action, "value": json.dumps(value)}],
        **({"response_url": response_url} if response_url else {}),
    }  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time() - age_s))
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return body, {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={mac.hexdigest()}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _refusals(running: Running, incident: str | None = None) -> list[tuple[str, str]]:
    entries = running.client.get("/v1/audit", params={"after": 0, "limit": 1000},
                                 headers=running.auth("viewer")).json()  # fmt: skip
    items = entries["items"] if isinstance(entries, dict) else entries
    return [
        (e["actor"], e["data"]["reason"])
        for e in items
        if e["kind"] == "approval.refused" and (incident is None or e["incident_id"] == incident)
    ]


def test_a_signed_click_approves_and_every_bad_one_is_refused_and_recorded(
    running: Running, slack: Receiver
) -> None:
    client = running.client
    incident, value = _approval_posted(running, slack)
    assert value["incident"] == incident
    pending = client.get(f"/v1/incidents/{incident}", headers=running.auth("viewer")).json()
    assert value["hash"] == pending["pending_approval"]["hash"]  # bound as the API's are

    bad = [
        (_click(value, secret="x" * 32), 401, "bad_signature"),
        (_click(value, age_s=301), 401, "stale"),
        (_click(value, user="U9"), 403, "unmapped_user"),
        (_click(value, user="U2"), 403, "forbidden"),
        (_click({**value, "hash": "0" * 64}), 409, "not_awaiting"),
    ]
    for (body, headers), status, reason in bad:
        answer = client.post(ROUTE, content=body, headers=headers)
        assert answer.status_code == status, (reason, answer.text)
    refused = _refusals(running)
    assert [reason for _, reason in refused] == [reason for *_, reason in bad]
    assert refused[2:] == [("slack:U9", "unmapped_user"), ("slack:U2", "forbidden"),
                           ("slack:U1", "not_awaiting")]  # fmt: skip
    still = client.get(f"/v1/incidents/{incident}", headers=running.auth("viewer")).json()
    assert still["status"] == "awaiting_approval"  # nothing refused changed anything

    body, headers = _click(value, response_url=f"{slack.url}/respond")
    granted = client.post(ROUTE, content=body, headers=headers)
    assert granted.status_code == 200, granted.text
    assert granted.json()["text"] == f"alice approved the action of {incident} from Slack"
    replayed = client.post(ROUTE, content=body, headers=headers)
    assert replayed.status_code == 401
    assert _refusals(running)[-1] == ("slack:unverified", "replayed")
    [update] = [r.json() for r in slack.received if r.path == "/respond"]
    assert update["replace_original"] is True

    actions = client.get(f"/v1/incidents/{incident}/actions", headers=running.auth("viewer"))
    assert [(a["action"], a["approved_by"]) for a in actions.json()] == [
        ("failover-database", "alice")
    ]
    for _ in range(10):
        running.gateway.live.advance(1)
        status = client.get(f"/v1/incidents/{incident}", headers=running.auth("viewer")).json()
        if status["status"] == "resolved":
            break
    assert status["status"] == "resolved"  # the pager being down held nothing up

    def deliveries() -> list[dict[str, Any]]:
        audit = client.get(f"/v1/incidents/{incident}/audit", headers=running.auth("viewer"))
        return [e for e in audit.json() if e["kind"].startswith("notify.")]

    seen = _until(lambda: (d := deliveries()) and len(d) >= 2 and d, "deliveries")
    by_channel = {(d["kind"], d["data"]["channel"], d["data"]["event"]) for d in seen}
    assert ("notify.sent", "slack-app", "approval_needed") in by_channel
    assert ("notify.failed", "pagerduty", "approval_needed") in by_channel
    [failed] = [d for d in seen if d["data"]["channel"] == "pagerduty"]
    assert failed["data"]["attempts"] == 2
    assert failed["data"]["reason"].startswith("unreachable")
    assert failed["data"]["target"] == "default"  # the routing key itself is never recorded


def test_without_a_signing_secret_the_route_is_not_there(tmp_path: Path, aws: AwsPort) -> None:
    with running_gateway(tmp_path, aws) as running:
        body, headers = _click({"incident": "inc-x", "hash": "0" * 64})
        assert running.client.post(ROUTE, content=body, headers=headers).status_code == 404
