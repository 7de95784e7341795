"""The live commander: alerts queued by other threads are taken in order, before the clock
moves; a full queue refuses a delivery whole; an estate it cannot build is a clear error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from orchestrator.context import CommanderPolicy
from orchestrator.correlation import NOISE_SUPPRESSION_STEPS
from orchestrator.intake import Signal
from orchestrator.live import LiveCommander, open_live
from services.aws.port import AwsPort
from services.errors import ConfigurationError, OverloadedError
from services.scenario.loader import load_scenario, resolve_scenarios
from services.settings import AwsMode

SCENARIO = load_scenario(resolve_scenarios(["checkout-bad-deploy"])[0])
SERVICES = ("checkout", "frontend")
"""Where its bad deploy shows: checkout's errors, and those of frontend, which calls it."""


def _signal(fingerprint: str, service: str = "checkout") -> Signal:
    return Signal(
        fingerprint=fingerprint, source="generic", firing=True, title=fingerprint, service=service
    )


def test_signals_are_taken_at_the_step_they_arrived_and_a_full_queue_refuses(
    tmp_path: Path, aws: AwsPort
) -> None:
    with open_live(
        aws, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None, metrics=None,
        speed=1e-6, approval_ttl_s=900, max_queued=2,
    ) as live:  # fmt: skip
        step = live.advance(0)
        live.submit([_signal("generic:a"), _signal("generic:b")])
        with pytest.raises(OverloadedError):
            live.submit([_signal("generic:c")])  # two queued already: refused whole
        assert live.health().queued == 2
        assert live.advance(1) == step + 1
        assert live.health().queued == 0
        taken = {
            fingerprint: incident.opened_step
            for incident in live.commander.incidents.values()
            for fingerprint in incident.fingerprints
            if fingerprint.startswith("generic:")
        }
        # Both taken before the clock moved (on a healthy estate each closes as noise).
        assert taken == {"generic:a": step, "generic:b": step}
        live.submit([_signal("generic:x", service="no-such-service")])
        live.call(lambda commander: None)  # drains first
        assert live.unrouted == 1
        assert live.health().running


def test_an_account_is_never_simulated_on(tmp_path: Path) -> None:
    account = AwsPort(mode=AwsMode.ACCOUNT, region="us-east-1", config=Config())
    with pytest.raises(ConfigurationError, match="estate file"), open_live(
        account, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None,
        metrics=None, speed=1.0, approval_ttl_s=900,
    ):  # fmt: skip
        pass


def _thread(live: LiveCommander, incident_id: str) -> dict[str, Any]:
    return dict(live.commander.graph.get_state(live.commander.config_of(incident_id)).values)


def test_a_second_incident_finding_a_cause_already_worked_closes_into_the_first(
    tmp_path: Path, aws: AwsPort
) -> None:
    """The bad deploy of checkout is being worked when an alert about orders-db (which checkout
    calls, so not one of its symptoms) opens a second incident. Its diagnosis finds the same
    bad deploy: it closes into the first, and checkout is acted on by one incident only, not
    rolled back by one and scaled out by the other, each then undoing the other's action."""
    with open_live(
        aws, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None, metrics=None,
        speed=1e-6, approval_ttl_s=900,
    ) as live:  # fmt: skip
        commander = live.commander
        for _ in range(30):  # the bad deploy lands at 15m; the world's alarms open an incident
            live.advance(1)
            if ("checkout", "bad-deploy") in commander.ctx.causes:
                break
        first = commander.ctx.causes[("checkout", "bad-deploy")]
        assert not commander.incidents[first].finished

        live.submit([_signal("generic:orders-db-latency", service="orders-db")])
        live.advance(1)
        # Merged: a repeat of the alert joins the first incident.
        assert "generic:orders-db-latency" in commander.incidents[first].fingerprints
        [closed] = [
            values
            for incident_id in commander.incidents
            if (values := _thread(live, incident_id)).get("duplicate_of") == first
        ]
        assert closed["status"] == "closed"
        assert closed["alerts"][0]["fingerprint"] == "generic:orders-db-latency"
        assert closed["timeline"][-1]["text"] == f"closed: duplicate of {first}"
        assert not closed["actions"]  # it never acted
        assert "orders-db" in commander.incidents[first].services
        listed = commander.store.get(closed["incident_id"])
        assert listed is not None
        assert (listed.status, listed.duplicate_of) == ("closed", first)

        for _ in range(10):
            live.advance(1)
        acted = {
            incident_id: [a["action"] for a in _thread(live, incident_id)["actions"]]
            for incident_id in commander.incidents
            if _thread(live, incident_id)["actions"]
        }
        assert acted == {first: ["rollback-deployment"]}
        assert commander.incidents[first].status == "resolved"
        assert ("checkout", "bad-deploy") not in commander.ctx.causes  # ended: no owner


def test_a_fault_starting_soon_after_its_alerts_were_closed_as_noise_is_still_worked(
    tmp_path: Path, aws: AwsPort
) -> None:
    """The bad deploy's alerts (the alarms and the commander's own detector) fire once at 5m on
    a healthy estate and are closed as noise. The fault starts at 15m and its alerts repeat
    every minute: they are held as repeats of the noise only for the suppression window counted
    from the noise, not for ever (each repeat used to extend it, and the fault was never
    worked)."""
    with open_live(
        aws, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None, metrics=None,
        speed=1e-6, approval_ttl_s=900,
    ) as live:  # fmt: skip
        commander = live.commander
        live.advance(5)
        alarms = {name: commander.ctx.estate.services[name].alarms["errors"] for name in SERVICES}
        live.submit(
            [_signal(f"detector:{name}:errors", service=name) for name in SERVICES]
            + [_signal(f"alarm:{alarm}", service=name) for name, alarm in alarms.items()]
        )
        live.advance(1)
        assert {i.status for i in commander.incidents.values()} == {"noise"}

        noise_step = live.advance(0)
        worked = None
        while worked is None and live.advance(1) < noise_step + NOISE_SUPPRESSION_STEPS + 10:
            worked = next((i for i in commander.incidents.values() if i.status == "resolved"), None)
        assert worked is not None, "the bad deploy was never worked"
        assert worked.opened_step <= noise_step + NOISE_SUPPRESSION_STEPS
        actions = _thread(live, worked.id)["actions"]
        assert [a["action"] for a in actions] == ["rollback-deployment"]


def test_an_incident_listed_by_a_process_killed_before_its_thread_ran_is_closed_at_restart(
    tmp_path: Path, aws: AwsPort
) -> None:
    """An incident is listed before its thread runs. A process killed in between leaves a
    listed incident with no thread: the next start (a new run of the demo) closes it, saying
    why, rather than list it as open forever."""
    options: dict[str, Any] = {
        "state_dir": tmp_path, "policy": CommanderPolicy(), "trail": None, "metrics": None,
        "speed": 1e-6, "approval_ttl_s": 900,
    }  # fmt: skip
    with open_live(aws, SCENARIO, **options) as live:
        live.submit([_signal("generic:a")])
        live.advance(1)
        listed = live.commander.store.get(next(iter(live.commander.incidents)))
        assert listed is not None
        orphan = replace(listed, id="inc-died-before-its-thread", status="open", reason=None)
        live.commander.store.put(orphan)  # what a kill between listing and running leaves

    with open_live(aws, SCENARIO, **options) as live:
        closed = live.commander.store.get(orphan.id)
        assert closed is not None
        assert closed.status == "closed"
        assert (closed.reason or "").startswith("closed at restart")
        assert closed.opened_at == orphan.opened_at


def test_an_incident_of_this_run_listed_without_a_thread_is_closed_when_adopted(
    tmp_path: Path, aws: AwsPort
) -> None:
    """The same in a run that goes on (an estate file's, or a cluster's): adopting the incidents
    it finds listed, the commander closes one whose thread never ran, saying why."""
    with open_live(
        aws, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None, metrics=None,
        speed=1e-6, approval_ttl_s=900,
    ) as live:  # fmt: skip
        live.submit([_signal("generic:a")])
        live.advance(1)
        listed = live.commander.store.get(next(iter(live.commander.incidents)))
        assert listed is not None
        orphan = replace(listed, id="inc-died-before-its-thread", status="open", reason=None)
        live.commander.store.put(orphan)
        assert live.call(lambda commander: commander.recover([orphan.id])) == []
        closed = live.commander.store.get(orphan.id)
        assert closed is not None
        assert closed.status == "closed"
        assert "before its thread first ran" in (closed.reason or "")


def test_an_incident_escalated_with_its_cause_unknown_is_looked_at_again_when_alerts_join(
    tmp_path: Path, aws: AwsPort
) -> None:
    """Escalated because its first look found no cause (as a database's connection count alone
    can leave it), an incident is diagnosed again when later alerts join it: here the bad
    deploy's, which name the cause; it is then worked to the end like any other."""
    with open_live(
        aws, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None, metrics=None,
        speed=1e-6, approval_ttl_s=900,
    ) as live:  # fmt: skip
        commander = live.commander
        live.advance(10)  # healthy so far; the bad deploy lands at 15m
        live.submit([_signal("generic:checkout-slow")])
        live.advance(0)
        [incident_id] = list(commander.incidents)

        def escalated_unknown(c: Any) -> None:
            unknown = {"service": "unknown", "fault": "unknown", "confidence": 0.0, "evidence": []}
            c.graph.update_state(
                c.config_of(incident_id),
                {"status": "escalated", "hypotheses": [unknown]},
                as_node="escalate",
            )
            c.incidents[incident_id].finished = True
            c.incidents[incident_id].status = "escalated"

        live.call(escalated_unknown)
        for _ in range(12):
            live.advance(1)
            if _thread(live, incident_id)["status"] == "resolved":
                break
        thread = _thread(live, incident_id)
        texts = [e["text"] for e in thread["timeline"]]
        assert any(text.startswith("re-examined: ") for text in texts), texts
        assert thread["hypotheses"][0]["fault"] == "bad-deploy"
        assert [a["action"] for a in thread["actions"]] == ["rollback-deployment"]
        assert thread["status"] == "resolved"
