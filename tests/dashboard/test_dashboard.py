"""The dashboard (``dashboard/``, served at ``/ui/``) in a real browser against a real gateway:
an approver watches an incident arrive live and approves its failover through the
confirmation; a viewer sees no approve button and is told who may; a late answer is told
someone else answered first; the credential never leaves the page's memory.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's sync API. With
``IC_SCREENSHOTS=1`` the tests also write ``docs/img/dashboard-*.png``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright

from conftest import skip_or_fail
from gatewaykit import PAYLOADS, Running, running_gateway, served
from services.aws.port import AwsPort

CHROMIUM = Path("/usr/bin/chromium")
SCENARIO = "deploy-then-sessions-db-latency"
"""An incident opens around step 15; its fix, a database failover, needs a person's approval."""
AGENTS = ["detection", "diagnosis", "finops", "remediation", "security"]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        yield _launch(playwright)


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


@dataclass
class Tab:
    """A page with what it did: console errors, and every request's URL and headers."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def sign_in(self, secret: str) -> None:
        self.page.get_by_label("API key or JWT").fill(secret)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("#stream-state")).to_have_text("live")

    def assert_no_errors(self) -> None:
        # The browser logs every 4xx fetch as a console error; those the page expects to get.
        unexpected = [e for e in self.errors if "Failed to load resource" not in e]
        assert unexpected == []

    def assert_no_errors_but_refused(self) -> None:
        """No error but the connections a stopped server refused (the page handles them)."""
        unexpected = [e for e in self.errors if "net::ERR_" not in e]
        self.errors = unexpected
        self.assert_no_errors()


def _open(browser: Browser, url: str) -> Tab:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    tab = Tab(context.new_page())
    tab.page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.page.on("request", lambda r: tab.requests.append((r.url, r.headers)))
    tab.page.goto(url)
    return tab


def _shot(page: Page, name: str, *, full_page: bool = False) -> None:
    if os.environ.get("IC_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / f"dashboard-{name}.png", full_page=full_page)


def _advance_until(
    running: Running, want: Callable[[list[dict[str, Any]]], Any], limit: int = 40
) -> Any:
    """Step the paused estate one minute at a time until the incident list satisfies ``want``
    (read through the API, not the page)."""
    for _ in range(limit):
        running.gateway.live.advance(1)
        items = running.client.get("/v1/incidents", headers=running.auth("viewer")).json()
        got = want(items["items"])
        if got:
            return got
    raise AssertionError(f"not there after {limit} steps")


def _waiting(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((i for i in items if i["pending_approval"]), None)


@pytest.fixture
def gateway(tmp_path: Path, aws: AwsPort) -> Iterator[tuple[Running, str]]:
    with (
        running_gateway(tmp_path, aws, demo_scenario=SCENARIO) as running,
        served(running.app) as base,
    ):
        yield running, base


def test_an_approver_sees_the_incident_arrive_live_and_approves_its_failover(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    running, base = gateway
    tab = _open(browser, f"{base}/ui/")
    page = tab.page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _shot(page, "signin")
    tab.sign_in(running.keys["approver"])
    expect(page.get_by_text("No incidents match")).to_be_visible()
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    _advance_until(running, lambda items: items)
    rows = page.locator("tr[data-incident]")
    expect(rows).to_have_count(1)
    incident = _advance_until(running, _waiting)
    expect(rows.first).to_contain_text("needs approval")
    expect(rows.first).to_contain_text("awaiting approval")
    expect(rows.first).to_contain_text("sev1")
    assert page.evaluate("window.sameDocument") is True
    expect(page.locator("#view")).not_to_contain_text("null")
    _shot(page, "list")

    expect(rows.first.get_by_role("link")).to_have_text(incident["headline"])
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=incident["headline"])).to_be_visible()
    expect(page.locator("#first-alert")).to_have_text(f"First alert: {incident['title']}")
    matrix = page.locator("table.matrix")
    expect(matrix).to_have_count(1)
    assert sorted(matrix.locator("th.agent").all_text_contents()) == AGENTS
    chosen = matrix.locator("tr.chosen")
    expect(chosen.locator("th")).to_have_text("failover-database on sessions-db")
    expect(chosen.locator("td.stance")).to_have_count(5)
    why = chosen.locator("td.stance details").first
    why.locator("summary").focus()
    page.keyboard.press("Enter")  # the rationale opens in place, by keyboard (or touch)
    expect(why.locator("p")).to_be_visible()
    assert why.locator("p").inner_text().strip()
    expect(
        page.get_by_text("Rule: ask a person: destructive action on a protected resource")
    ).to_be_visible()
    expect(page.locator(".hypotheses > li").first).to_contain_text(
        "dependency-latency on sessions-db"
    )
    charts = page.locator("figure.chart")
    expect(charts.first.locator("canvas")).to_be_visible()
    expect(charts.first.locator("figcaption")).to_contain_text("onset")
    expect(page.locator("#incident-status")).to_have_text("awaiting approval")
    _shot(page, "incident", full_page=True)

    page.get_by_role("button", name="Approve…").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("failover-database on sessions-db")
    dialog.get_by_label("Comment").fill("failover is safe now")
    dialog.get_by_role("button", name="Approve", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#notice")).to_contain_text("Approved by approver")
    action = page.locator('tr[data-action="failover-database"]')
    expect(action).to_contain_text("succeeded")
    expect(action).to_contain_text("approver")
    expect(page.locator("#incident-status")).to_have_text("mitigating")
    expect(page.get_by_role("button", name="Approve…")).to_have_count(0)
    expect(page.locator(".timeline")).to_contain_text("approver approved")

    _advance_until(running, lambda items: items[0]["status"] == "resolved", limit=10)
    expect(page.locator("#incident-status")).to_have_text("resolved")  # live, from the stream
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#open-count")).to_have_text("0 open")
    expect(page.locator("#noise")).to_contain_text("→ 1 incident")
    expect(page.get_by_role("region", name="Actions by outcome")).to_contain_text("succeeded")
    health = page.locator("#agent-health tbody tr")
    expect(health).to_have_count(5)
    expect(health.first).to_contain_text("detection")
    _shot(page, "overview")
    assert page.evaluate("window.sameDocument") is True
    tab.assert_no_errors()


def test_a_viewer_cannot_approve_and_a_late_approver_learns_someone_answered_first(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    running, base = gateway
    incident = _advance_until(running, _waiting)
    link = f"{base}/ui/#/incidents/{incident['id']}"

    viewer = _open(browser, link)
    viewer.sign_in(running.keys["viewer"])
    # Approve and reject are shown to approvers only; a viewer is told who may.
    expect(viewer.page.locator("#cannot-approve")).to_have_text(
        "Approving needs the approver or admin role; viewer has viewer."
    )
    expect(viewer.page.get_by_role("button", name="Approve…")).to_have_count(0)
    expect(viewer.page.get_by_role("button", name="Reject…")).to_have_count(0)

    late = _open(browser, link)
    late.sign_in(running.keys["approver"])
    late.page.get_by_role("button", name="Reject…").click()
    dialog = late.page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    other = running.client.post(
        f"/v1/incidents/{incident['id']}/approve",
        json={"hash": incident["pending_approval"]["hash"]},
        headers=running.auth("admin"),
    )
    assert other.status_code == 200
    dialog.get_by_role("button", name="Reject", exact=True).click()
    expect(late.page.locator("#notice")).to_contain_text(
        "Not rejected: someone else answered first"
    )
    expect(late.page.locator('tr[data-action="failover-database"]')).to_contain_text("admin")
    for tab in (viewer, late):
        expect(tab.page.locator("#incident-status")).to_have_text("mitigating")  # live refresh
        tab.assert_no_errors()


def test_the_credential_stays_in_memory_and_goes_only_in_a_header(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    running, base = gateway
    secret = running.keys["viewer"]
    tab = _open(browser, f"{base}/ui/")
    page = tab.page
    page.get_by_label("API key or JWT").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That key or token was refused.")

    page.keyboard.type(secret)  # the refused attempt left the focus in the field
    page.keyboard.press("Enter")
    expect(page.locator("#stream-state")).to_have_text("live")
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    stored = page.evaluate(
        "() => JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])"
    )
    assert secret not in stored
    assert secret not in page.url
    assert page.get_by_label("API key or JWT").input_value() == ""
    assert secret not in page.content()
    assert page.context.cookies() == []
    assert all(secret not in url for url, _ in tab.requests)
    api_calls = [headers for url, headers in tab.requests if "/v1/" in url]
    assert {"/v1/events", "/v1/incidents"} <= {
        url.removeprefix(base).split("?")[0] for url, _ in tab.requests if "/v1/" in url
    }
    assert api_calls
    assert all(
        h.get("authorization") in {f"Bearer {secret}", "Bearer not-a-key"} for h in api_calls
    )

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#view")).to_be_hidden()
    tab.assert_no_errors()


def test_the_event_parser_survives_chunks_split_anywhere(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    _, base = gateway
    tab = _open(browser, f"{base}/ui/")
    stream = 'id: 7\r\nevent: vote\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: ping\n\nid: 8\ndata: x\n\n'
    got = tab.page.evaluate(
        """async (stream) => {
            const { SseParser } = await import("./js/events.js");
            const parser = new SseParser();
            const events = [];
            for (const ch of stream) events.push(...parser.feed(ch));  // one character a chunk
            return events;
        }""",
        stream,
    )
    assert got == [
        {"type": "vote", "data": '{"a":\n1}', "id": "7"},
        {"type": "message", "data": "x", "id": "8"},
    ]
    tab.assert_no_errors()


def test_an_incident_closed_into_another_links_to_the_one_working_its_cause(
    tmp_path: Path, aws: AwsPort, browser: Browser
) -> None:
    """While checkout's bad deploy is being worked, an alert about orders-db opens a second
    incident that finds the same cause and closes into the first: its page says so and links
    there."""
    with (
        running_gateway(tmp_path, aws, demo_scenario="checkout-bad-deploy") as running,
        served(running.app) as base,
    ):
        first = _advance_until(
            running,
            lambda items: next((i for i in items if i["status"] == "mitigating"), None),
        )
        alert = {
            "title": "orders-db latency above SLO", "service": "orders-db",
            "severity": "high", "status": "firing", "fingerprint": "orders-db-latency",
        }  # fmt: skip
        sent = running.client.post("/v1/alerts/generic", json=alert, headers=running.auth("ingest"))
        assert sent.status_code == 202
        closed = _advance_until(
            running, lambda items: next((i for i in items if i["duplicate_of"]), None), limit=3
        )
        assert (closed["status"], closed["duplicate_of"]) == ("closed", first["id"])

        tab = _open(browser, f"{base}/ui/#/incidents/{closed['id']}")
        tab.sign_in(running.keys["viewer"])
        page = tab.page
        expect(page.locator("#incident-status")).to_contain_text("closed")
        expect(page.locator("#duplicate-of")).to_contain_text(f"{first['id']} (same root cause)")
        page.locator("#duplicate-of a").click()
        expect(page.locator("#first-alert")).to_have_text(f"First alert: {first['title']}")
        expect(page.locator("#duplicate-of")).to_have_count(0)
        tab.assert_no_errors()


def test_an_alert_about_nothing_in_the_estate_shows_as_a_triage_incident(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    """Grafana's alerts name no service of the estate: they are one triage incident, marked
    in the list with its badge and why, whose page says a person must route it."""
    running, base = gateway
    body = (PAYLOADS / "grafana_alerting_webhook.official-docs.json").read_bytes()
    sent = running.client.post(
        "/v1/alerts/grafana", content=body,
        headers={**running.auth("ingest"), "Content-Type": "application/json"},
    )  # fmt: skip
    assert sent.status_code == 202
    running.gateway.live.advance(0)

    tab = _open(browser, f"{base}/ui/")
    tab.sign_in(running.keys["viewer"])
    page = tab.page
    row = page.locator("tr[data-incident]").filter(has=page.locator(".badge.kind-triage"))
    expect(row).to_have_count(1)
    expect(row.locator(".badge.kind-triage")).to_have_text("triage")
    expect(row).to_contain_text("This alert was triggered for zone us-1")
    expect(row).to_contain_text("escalated")
    expect(row.locator(".reason")).to_have_text(
        "no service of the estate matches this grafana alert: escalated to on-call"
    )
    _shot(page, "triage-list")

    row.get_by_role("link").click()
    expect(page.get_by_role("region", name="Triage: a person routes this")).to_contain_text(
        "This alert was triggered for zone eu-1 (grafana)"
    )
    expect(page.locator("#incident-status")).to_have_text("escalated")
    expect(page.get_by_text("No action taken yet.")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("no automatic action")
    _shot(page, "triage-incident", full_page=True)
    tab.assert_no_errors()


# -- an on-call engineer's dashboard: recovery, responder controls, a phone's width -----------


class Restartable:
    """``app`` on uvicorn on one loopback port that can be stopped and started again (the
    gateway's process restarting, as the browser sees it: connections refused, then back)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = 0
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> str:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=1,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        assert self.server is not None
        assert self.thread is not None
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()


def _fresh(page: Page) -> None:
    """The view is current: the stream live, no stale banner, no error page."""
    expect(page.locator("#stream-state")).to_have_text("live", timeout=15_000)
    expect(page.locator("#stale")).to_be_hidden(timeout=15_000)
    expect(page.locator("#load-error")).to_have_count(0)


def test_the_views_recover_by_themselves_when_the_server_restarts(
    tmp_path: Path, aws: AwsPort, browser: Browser
) -> None:
    with running_gateway(tmp_path, aws, demo_scenario=SCENARIO) as running:
        server = Restartable(running.app)
        base = server.start()
        try:
            incident = _advance_until(running, _waiting)
            tab = _open(browser, f"{base}/ui/")
            page = tab.page
            tab.sign_in(running.keys["approver"])
            row = page.locator(f'tr[data-incident="{incident["id"]}"]')
            expect(row).to_contain_text("awaiting approval")

            for view in ("list", "incident"):
                server.stop()
                # Something loads while the server is down (the tab coming back into view):
                # the last content stays, under a stale banner, and the badge is not "live".
                page.evaluate("window.dispatchEvent(new Event('online'))")
                expect(page.locator("#stale")).to_be_visible()
                expect(page.locator("#stale")).to_contain_text("refreshing failed")
                expect(page.locator("#stream-state")).not_to_have_text("live")
                expect(page.locator("#stream-state")).to_have_attribute(
                    "data-state", re.compile("stale|reconnecting")
                )
                if view == "list":
                    expect(row).to_be_visible()
                else:
                    expect(page.locator("#incident-status")).to_be_visible()
                answer = running.client.post(
                    f"/v1/incidents/{incident['id']}/ack", headers=running.auth("responder")
                )  # a change while the browser cannot see the server
                assert answer.status_code == 200 or view == "incident"
                server.start()
                _fresh(page)
                if view == "list":
                    expect(row.locator("td.owner")).to_have_text("responder")
                    row.get_by_role("link").click()
                    expect(page.locator("#owner-fact")).to_have_text("responder")
                else:
                    running.client.post(
                        f"/v1/incidents/{incident['id']}/notes", json={"text": "after restart"},
                        headers=running.auth("responder"),
                    )  # fmt: skip
                    expect(page.locator(".timeline")).to_contain_text("after restart")
            tab.assert_no_errors_but_refused()
        finally:
            server.stop()


def test_a_failed_load_keeps_the_view_and_retries(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    running, base = gateway
    incident = _advance_until(running, _waiting)
    tab = _open(browser, f"{base}/ui/#/incidents/{incident['id']}")
    page = tab.page
    tab.sign_in(running.keys["viewer"])
    expect(page.locator("#incident-status")).to_have_text("awaiting approval")
    failed: list[str] = []

    def fail_once(route: Route) -> None:
        if not failed:
            failed.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r"/v1/incidents/[^/?]+/timeline"), fail_once)
    # Each note's event reloads the page, and the first load through the route fails. A load
    # already on its way when the route was set (an earlier event's) can bring a note in
    # without passing the route: then the next note's load is the one that fails.
    for attempt in range(3):
        text = f"note {attempt}: a load fails"
        running.client.post(
            f"/v1/incidents/{incident['id']}/notes",
            json={"text": text},
            headers=running.auth("admin"),
        )  # fmt: skip
        expect(page.locator(".timeline")).to_contain_text(text)  # after the retry, if failed
        if failed:
            break
    assert failed
    _fresh(page)
    expect(page.locator("#incident-status")).to_have_text("awaiting approval")
    tab.assert_no_errors_but_refused()


def test_a_stream_cut_before_any_event_resumes_with_last_event_id(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    """The first message carries an id; the stream is cut right after it, and an incident opens
    while the page is away: the page resumes from that id and the list is complete."""
    running, base = gateway
    head = running.gateway.trail.last_seq()
    tab = _open(browser, f"{base}/ui/")
    page = tab.page
    streams: list[dict[str, str]] = []
    held: list[Route] = []

    def cut_then_resume(route: Route) -> None:
        streams.append(route.request.headers)
        if len(streams) == 1:  # what the server sends first, then the connection drops
            route.fulfill(
                status=200, headers={"Content-Type": "text/event-stream"}, body=f"id: {head}\n\n"
            )
        elif len(streams) == 2:
            held.append(route)  # the page is away until an incident has opened
        else:
            route.continue_()

    page.route(re.compile(r"/v1/events$"), cut_then_resume)
    page.get_by_label("API key or JWT").fill(running.keys["viewer"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("No incidents match")).to_be_visible()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    expect(page.locator("#stream-state")).not_to_have_text("live")
    _advance_until(running, lambda items: items)
    held[0].continue_()
    expect(page.locator("tr[data-incident]")).to_have_count(1)
    _fresh(page)
    assert "last-event-id" not in streams[0]
    assert streams[1]["last-event-id"] == str(head)
    tab.assert_no_errors()


def _tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until ``selector`` has the focus (as a keyboard user gets there)."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_a_responder_acknowledges_assigns_notes_and_resolves_from_the_keyboard(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    running, base = gateway
    incident = _advance_until(running, _waiting)
    tab = _open(browser, f"{base}/ui/")
    page = tab.page
    tab.sign_in(running.keys["responder"])
    row = page.locator(f'tr[data-incident="{incident["id"]}"]')
    expect(row.get_by_role("button", name=f"Acknowledge {incident['id']}")).to_be_visible()

    _tab_to(page, "td.owner button")
    page.keyboard.press("Enter")
    expect(row.locator("td.owner")).to_have_text("responder")
    expect(page.locator("#notice")).to_contain_text("Acknowledged")

    _tab_to(page, "td.what a")
    page.keyboard.press("Enter")
    expect(page.locator("#headline")).to_have_text(incident["headline"])
    expect(page.locator("#owner")).to_contain_text("Owned by responder")
    expect(page.locator("#cannot-approve")).to_be_visible()  # a responder may not approve

    _tab_to(page, "#assign-to")
    page.keyboard.type("dba@example.com")
    page.keyboard.press("Enter")
    expect(page.locator("#owner")).to_contain_text("Owned by dba@example.com")
    expect(page.locator(".timeline")).to_contain_text("responder assigned it to dba@example.com")

    _tab_to(page, "#note-text")
    page.keyboard.type("paging the DBA")
    _tab_to(page, "#note-form button")
    page.keyboard.press("Enter")
    expect(page.locator(".timeline")).to_contain_text("paging the DBA")
    expect(page.locator("#note-text")).to_have_value("")

    _tab_to(page, "#resolve-reason")
    page.keyboard.type("fixed by hand: pool resized")
    page.keyboard.press("Enter")
    expect(page.locator("#incident-status")).to_have_text("resolved")
    expect(page.locator("#resolve-form")).to_have_count(0)
    _tab_to(page, "#show-postmortem")
    page.keyboard.press("Enter")
    expect(page.locator("#postmortem-text")).to_contain_text(incident["id"])
    expect(page.locator("#download-postmortem")).to_be_visible()
    tab.assert_no_errors()

    viewer = _open(browser, f"{base}/ui/#/incidents/{incident['id']}")
    viewer.sign_in(running.keys["viewer"])
    expect(viewer.page.locator("#cannot-respond")).to_contain_text("viewer has viewer")
    expect(viewer.page.locator("#note-form")).to_have_count(0)
    viewer.assert_no_errors()


def test_a_phone_reads_the_list_the_incident_and_the_overview_without_scrolling_sideways(
    gateway: tuple[Running, str], browser: Browser
) -> None:
    running, base = gateway
    _advance_until(running, _waiting)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    context.set_default_timeout(10_000)
    page = context.new_page()
    tab = Tab(page)
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    page.goto(f"{base}/ui/")
    tab.sign_in(running.keys["approver"])
    expect(page.locator("tr[data-incident]")).to_have_count(1)
    width = "document.documentElement.scrollWidth"
    assert page.evaluate(width) <= 390
    _shot(page, "mobile-list", full_page=True)

    page.locator("td.what a").click()
    expect(page.locator("#incident-status")).to_have_text("awaiting approval")
    expect(page.locator("figure.chart canvas").first).to_be_visible()
    assert page.evaluate(width) <= 390
    _shot(page, "mobile-incident", full_page=True)
    for details in page.locator("td.stance details").all():
        details.locator("summary").click()  # open every rationale: still no sideways scroll
    page.locator("#audit-details summary").click()
    assert page.evaluate(width) <= 390

    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#agent-health tbody tr")).to_have_count(5)  # loaded
    assert page.evaluate(width) <= 390
    tab.assert_no_errors()
    context.close()
