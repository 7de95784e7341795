"""Each channel against a local receiver over real HTTP: the payload the real service
documents, its signature, its dedup key, and what a 429, a 5xx, a 400 and a receiver that is
down do to a delivery (through the courier: rate limit, retries, backoff)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from receiverkit import Reply, nothing_listening, receiving
from services.aws.resources import ServiceProfile
from services.notify.delivery import Courier
from services.notify.notice import Approval, Facts, Notice
from services.notify.pagerduty import PagerDuty
from services.notify.slack import SlackApp, SlackWebhook
from services.notify.teams import Teams
from services.notify.webhook import Webhook

FACTS = Facts(title="checkout 5xx above SLO", severity="sev1", services=("checkout",))
APPROVAL = Approval("c1", "failover-database", "sessions-db", "weighted", "ab" * 32)


def _notice(event: str = "escalated", **more: object) -> Notice:
    return Notice(event=event, incident_id="inc-0123456789", seq=7, facts=FACTS, **more)  # type: ignore[arg-type]


def _profile(
    name: str, escalation: str | None, owners: tuple[str, ...] = ("team",)
) -> ServiceProfile:
    return ServiceProfile(
        name=name, kind="ecs-service", tier="1", protected=False, baseline_capacity=2,
        max_capacity=4, unit_cost_per_hour=0.1, downtime_cost_per_min=1.0,
        owners=owners, escalation=escalation,
    )  # fmt: skip


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as http:
        yield http


def test_pagerduty_triggers_acknowledges_and_resolves_one_alert_per_incident(
    client: httpx.Client,
) -> None:
    with receiving(Reply(202)) as pd:
        channel = PagerDuty(
            client, url=f"{pd.url}/v2/enqueue", routing_keys={"payments-oncall": "R" * 32},
            default_key="D" * 32,
        )  # fmt: skip
        catalogue = {"checkout": _profile("checkout", "pagerduty:payments-oncall")}
        [target] = channel.targets(_notice(), catalogue)
        assert target.name == "payments-oncall"
        channel.send(_notice(), target)
        channel.send(_notice("approval_needed", approval=APPROVAL), target)
        channel.send(_notice("acknowledged", by="alice"), target)
        channel.send(_notice("resolved", by="alice"), target)
    trigger, approval, ack, resolve = pd.bodies()
    assert {r.path for r in pd.received} == {"/v2/enqueue"}
    assert trigger["routing_key"] == "R" * 32
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "inc-0123456789"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "incident-commander"
    assert trigger["payload"]["summary"].startswith("[sev1] inc-0123456789 escalated")
    assert approval["dedup_key"] == "inc-0123456789"
    assert approval["payload"]["custom_details"]["approval"]["hash"] == "ab" * 32
    assert ack == {"routing_key": "R" * 32, "event_action": "acknowledge",
                   "dedup_key": "inc-0123456789"}  # fmt: skip
    assert resolve["event_action"] == "resolve"


def test_pagerduty_routes_by_escalation_then_default_and_skips_minor_incidents(
    client: httpx.Client,
) -> None:
    channel = PagerDuty(
        client, url="http://unused", routing_keys={"db-oncall": "K1"}, default_key="K0",
        min_severity="sev2",
    )  # fmt: skip
    catalogue = {"checkout": _profile("checkout", None), "db": _profile("db", "db-oncall")}
    two = Facts("t", "sev2", ("checkout", "db"))
    assert [t.name for t in channel.targets(Notice("escalated", "i", 1, two), catalogue)] == [
        "db-oncall"
    ]
    unowned = Facts("t", "sev1", ("checkout",))
    assert [t.name for t in channel.targets(Notice("escalated", "i", 1, unowned), catalogue)] == [
        "default"
    ]
    minor = Facts("t", "sev3", ("db",))
    assert channel.targets(Notice("escalated", "i", 1, minor), catalogue) == []
    unknown = Facts("t", None, ("db",))  # not yet measured: pages
    assert channel.targets(Notice("escalated", "i", 1, unknown), catalogue) != []


def test_a_service_naming_no_escalation_pages_its_owners_and_chats_in_their_channel(
    client: httpx.Client,
) -> None:
    catalogue = {
        "checkout": _profile("checkout", None, owners=("payments",)),
        "search": _profile("search", "search-oncall", owners=("discovery",)),
        "legacy": _profile("legacy", None, owners=("nobody-mapped",)),
    }
    pager = PagerDuty(
        client, url="http://unused", routing_keys={"payments": "KP", "search-oncall": "KS"},
        default_key="K0",
    )  # fmt: skip
    both = Facts("t", "sev1", ("checkout", "search"))
    assert [t.name for t in pager.targets(Notice("escalated", "i", 1, both), catalogue)] == [
        "payments", "search-oncall",  # the escalation wins over the owners where it is named
    ]  # fmt: skip
    alone = Facts("t", "sev1", ("legacy",))
    assert [t.name for t in pager.targets(Notice("escalated", "i", 1, alone), catalogue)] == [
        "default"
    ]
    app = SlackApp(
        client, token="xoxb-test", channel="C-ALL", api_url="http://unused",
        owner_channels={"payments": "C-PAY", "discovery": "C-DISC"},
    )  # fmt: skip
    asked = Notice("approval_needed", "i", 1, both)
    assert [t.name for t in app.targets(asked, catalogue)] == ["C-PAY", "C-DISC"]
    assert [t.name for t in app.targets(Notice("approval_needed", "i", 1, alone), catalogue)] == [
        "C-ALL"
    ]
    assert app.target("C-PAY") is not None
    assert app.target("C-ELSEWHERE") is None


def test_a_429_is_retried_after_its_retry_after_and_a_5xx_with_backoff(
    client: httpx.Client,
) -> None:
    sleeps = Sleeps()
    courier = Courier(max_attempts=5, backoff_s=0.5, max_backoff_s=30, sleep=sleeps)
    script = [Reply(429, {"Retry-After": "7"}), Reply(503), Reply(502), Reply(202)]
    with receiving(*script) as pd:
        channel = PagerDuty(client, url=pd.url, routing_keys={}, default_key="K0")
        [target] = channel.targets(_notice(), {})
        outcome = courier.deliver(channel, _notice(), target)
    assert outcome.sent
    assert outcome.attempts == 4
    assert sleeps.waits == [7.0, 1.0, 2.0]  # Retry-After, then 0.5 doubled per attempt
    assert len({json.dumps(b, sort_keys=True) for b in pd.bodies()}) == 1  # the same event


def test_a_400_is_not_retried_and_a_receiver_that_is_down_fails_with_the_reason(
    client: httpx.Client,
) -> None:
    sleeps = Sleeps()
    courier = Courier(max_attempts=3, backoff_s=0.01, sleep=sleeps)
    with receiving(Reply(400, body={"status": "invalid event"})) as pd:
        channel = PagerDuty(client, url=pd.url, routing_keys={}, default_key="K0")
        [target] = channel.targets(_notice(), {})
        refused = courier.deliver(channel, _notice(), target)
    assert (refused.sent, refused.attempts) == (False, 1)
    assert refused.reason is not None
    assert "HTTP 400" in refused.reason
    down = PagerDuty(client, url=nothing_listening(), routing_keys={}, default_key="K0")
    failed = courier.deliver(down, _notice(), target)
    assert (failed.sent, failed.attempts) == (False, 3)
    assert failed.reason is not None
    assert failed.reason.startswith("unreachable")


def test_the_rate_limit_holds_sends_back_per_target(client: httpx.Client) -> None:
    courier = Courier(max_attempts=1)
    with receiving(Reply(200)) as hook:
        channel = SlackWebhook(client, url=hook.url, rate_limit="2/second")
        [target] = channel.targets(_notice(), {})
        started = time.monotonic()
        for _ in range(3):
            assert courier.deliver(channel, _notice(), target).sent
        took = time.monotonic() - started
    assert len(hook.received) == 3
    assert took >= 0.5  # the third waited for the window


def test_slack_webhook_and_app_messages(client: httpx.Client) -> None:
    notice = _notice("approval_needed", approval=APPROVAL, link="https://ic.example/v1/x")
    with receiving(Reply(200, body={"ok": True})) as slack:
        SlackWebhook(client, url=f"{slack.url}/services/T/B/X").send(
            notice, SlackWebhook(client, url=f"{slack.url}/services/T/B/X").targets(notice, {})[0]
        )
        app = SlackApp(client, token="xoxb-test", channel="C42", api_url=f"{slack.url}/api")
        app.send(notice, app.targets(notice, {})[0])
    plain, posted = slack.received
    assert plain.path == "/services/T/B/X"
    assert plain.json()["text"].startswith("[sev1] inc-0123456789 needs approval")
    assert posted.path == "/api/chat.postMessage"
    assert posted.headers["authorization"] == "Bearer xoxb-test"
    body = posted.json()
    assert body["channel"] == "C42"
    [section, actions] = body["blocks"]
    assert section["type"] == "section"
    assert "failover-database" in section["text"]["text"]
    assert [(b["action_id"], b["style"]) for b in actions["elements"]] == [
        ("approve", "primary"), ("reject", "danger")
    ]  # fmt: skip
    values = {json.dumps(json.loads(b["value"]), sort_keys=True) for b in actions["elements"]}
    assert values == {json.dumps({"hash": "ab" * 32, "incident": "inc-0123456789"})}


def test_slack_app_refusal_in_an_ok_false_answer_is_a_failure(client: httpx.Client) -> None:
    courier = Courier(max_attempts=2, backoff_s=0.01)
    with receiving(Reply(200, body={"ok": False, "error": "channel_not_found"})) as slack:
        app = SlackApp(client, token="xoxb-test", channel="C42", api_url=slack.url)
        outcome = courier.deliver(
            app, _notice("approval_needed", approval=APPROVAL), app.target("C42")
        )  # type: ignore[arg-type]
    assert (outcome.sent, outcome.attempts) == (False, 1)
    assert outcome.reason == "Slack refused: channel_not_found"


def test_teams_gets_an_adaptive_card(client: httpx.Client) -> None:
    with receiving(Reply(202)) as teams:
        channel = Teams(client, url=f"{teams.url}/workflows/abc")
        channel.send(_notice(link="https://ic.example/v1/x"), channel.targets(_notice(), {})[0])
    [body] = teams.bodies()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0]["text"].startswith("[sev1] inc-0123456789 escalated")
    assert card["actions"][0]["url"] == "https://ic.example/v1/x"


def _verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """The receiver's side, as docs/notifications.md shows it."""
    timestamp = headers["x-ic-timestamp"]
    if abs(now - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["x-ic-signature"])


def test_the_webhook_is_signed_over_timestamp_dot_body(client: httpx.Client) -> None:
    secret = "s" * 32
    with receiving(Reply(204, body={})) as hook:
        channel = Webhook(client, url=f"{hook.url}/hook", secret=secret)
        channel.send(_notice("resolved", by="alice"), channel.targets(_notice(), {})[0])
    [got] = hook.received
    assert _verify(secret, got.headers, got.body, time.time())
    assert not _verify("t" * 32, got.headers, got.body, time.time())
    assert not _verify(secret, got.headers, got.body + b" ", time.time())
    assert not _verify(secret, got.headers, got.body, time.time() + 600)
    assert got.headers["x-ic-event"] == "resolved"
    assert got.headers["x-ic-delivery"] == "webhook:inc-0123456789:resolved"
    assert got.json()["by"] == "alice"
