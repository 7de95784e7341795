"""``serve`` in one process keeps what it accepted: its state directory (``IC_STATE_DIR``) holds
every incident, every accepted alert and every thread, so a restart, clean or not, loses none.

- SIGKILL at random moments while alerts are posted: after the restart every alert that was
  answered 202 is in the audit trail (an incident opened by it or joined by it, or a triage
  incident), and every incident finishes;
- SIGTERM: every incident is still served whole (timeline, votes, actions) after the restart,
  on its own clock.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from servekit import Served, serve

FINISHED = {"resolved", "escalated", "closed", "noise"}
SERVICES = ["frontend", "checkout", "catalog", "orders-db", "no-such-service"]


def _alert(n: int) -> dict[str, Any]:
    labels = {"alertname": f"Probe{n}", "service": SERVICES[n % len(SERVICES)]}
    return {
        "version": "4", "status": "firing",
        "alerts": [{
            "status": "firing", "labels": labels, "annotations": {"summary": f"probe {n}"},
            "startsAt": "2026-12-03T10:00:00Z", "fingerprint": f"probe{n:04d}",
        }],
    }  # fmt: skip


def _post_until_killed(served: Served, key: str, start: int, accepted: list[int]) -> int:
    """Post alerts ``start``, ``start + 1``... until the server stops answering; the numbers
    answered 202 go to ``accepted``. Returns the next number to post."""
    n = start
    while True:
        try:
            got = served.post("/v1/alerts/alertmanager", key, json=_alert(n))
        except httpx.HTTPError:
            return n + 1  # this one may or may not have been kept: it was never answered
        assert got.status_code == 202, got.text
        accepted.append(n)
        n += 1


def _audited_fingerprints(served: Served, key: str) -> set[str]:
    found: set[str] = set()
    after = 0
    while True:
        page = served.get("/v1/audit", key, params={"after": after, "limit": 1000}).json()
        items = page["items"] if isinstance(page, dict) else page
        if not items:
            return found
        for entry in items:
            alert = entry["data"].get("alert") or {}
            signal_ = entry["data"].get("signal") or {}
            for fingerprint in (alert.get("fingerprint"), entry["data"].get("fingerprint"),
                                signal_.get("fingerprint")):  # fmt: skip
                if fingerprint:
                    found.add(str(fingerprint))
        after = items[-1]["seq"]


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := check():
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _incidents(served: Served, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = served.get("/v1/incidents", key, params=params).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_alerts_answered_202_survive_sigkill_at_random_moments_and_incidents_finish(
    tmp_path: Path,
) -> None:
    env = {"IC_AWS_MODE": "embedded", "IC_DEMO_SPEED": "120"}
    rng = random.Random(13)
    accepted: list[int] = []
    key = ""
    n = 0
    for _ in range(3):
        with serve(tmp_path, env, stop=signal.SIGKILL) as served:
            key = key or served.key()
            killer = threading.Timer(rng.uniform(0.3, 2.0), served.process.kill)
            killer.start()
            n = _post_until_killed(served, key, n, accepted)
            killer.join()
    assert len(accepted) > 20, "too few alerts were posted before the kills to mean much"

    with serve(tmp_path, env) as served:
        _wait("the inbox drained", lambda: served.get("/readyz", key).json()["queued_alerts"] == 0,
              timeout=60)  # fmt: skip
        audited = _audited_fingerprints(served, key)
        lost = [n for n in accepted if f"alertmanager:probe{n:04d}" not in audited]
        assert not lost, f"{len(lost)} of {len(accepted)} alerts answered 202 were lost: {lost}"

        unfinished: list[dict[str, Any]] = []

        def all_finished() -> bool:
            unfinished[:] = [i for i in _incidents(served, key) if i["status"] not in FINISHED]
            return not unfinished

        try:
            _wait("every incident finished", all_finished, timeout=120)
        except AssertionError as timed_out:
            stuck = [(i["id"], i["kind"], i["status"], i.get("reason")) for i in unfinished]
            raise AssertionError(f"{timed_out}; still open: {stuck}") from None
        listed = _incidents(served, key)
        assert len({i["id"] for i in listed}) == len(listed)
        routed = [i for i in listed if i["kind"] == "incident"]
        assert routed, "the alerts naming the demo's services opened no incident"


def test_after_a_sigterm_restart_every_incident_is_served_whole(tmp_path: Path) -> None:
    env = {"IC_AWS_MODE": "embedded", "IC_DEMO_SPEED": "600"}
    with serve(tmp_path, env) as served:
        key = served.key()

        def rolled_back() -> dict[str, Any] | None:
            for item in _incidents(served, key):
                actions = served.get(f"/v1/incidents/{item['id']}/actions", key).json()
                if item["status"] in FINISHED and any(a["status"] == "succeeded" for a in actions):
                    return item
            return None

        incident = _wait("the demo's bad deploy worked to its end", rolled_back, timeout=120)
        before = {
            part: served.get(f"/v1/incidents/{incident['id']}{part}", key).json()
            for part in ("", "/timeline", "/votes", "/actions", "/decisions", "/audit")
        }
        listed_before = _incidents(served, key)

    with serve(tmp_path, env) as served:
        after = {
            part: served.get(f"/v1/incidents/{incident['id']}{part}", key).json() for part in before
        }
        assert after == before
        still = {i["id"]: i for i in _incidents(served, key)}
        for item in listed_before:  # every incident listed, on its own run's times
            assert still[item["id"]]["opened_at"] == item["opened_at"]
            if item["status"] in FINISHED:
                assert still[item["id"]] == item
            else:
                assert still[item["id"]]["status"] == "closed", still[item["id"]]
                assert "closed at restart" in still[item["id"]]["reason"]
