"""Kill the commander with SIGKILL in the middle of an incident; a new process recovers the
incident from its checkpoint and finishes it, and AWS sees each action once.

The world (emulator and simulation) lives in this test process; the commander runs in a child
process fed one simulated step at a time (``tests/crashkit.py``) and is killed right after a
step is handed to it, while it is working on it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.sqlite import SqliteSaver

from orchestrator.checkpoints import open_checkpointer
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import build_graph
from orchestrator.intake import Signal
from orchestrator.ledger import ActionLedger
from orchestrator.runner import catalogue_of
from services.aws.port import AwsPort
from services.scenario.loader import parse_scenario
from services.simulator.simulation import Simulation

SCENARIO = """
version: 1
name: crash-connections
seed: 5
duration: 24m
step: 60s
services:
  - name: api
    kind: ecs-service
    tier: critical
    depends_on: [api-db]
    capacity: 3
    baseline: {rps: 300, cpu: 35, memory: 40, latency_ms: 80, error_rate: 0.1}
  - name: api-db
    kind: rds
    tier: critical
    baseline: {cpu: 25, connections: 60, max_connections: 300, latency_ms: 4}
events:
  - {at: 8m, kind: connection-exhaustion, target: api-db, params: {over: 2m}}
"""
CRASHKIT = Path(__file__).resolve().parents[1] / "crashkit.py"


class CommanderProcess:
    def __init__(self, setup: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CRASHKIT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._send({"setup": setup})
        self.recovered = self._read()["ready"]

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"commander process died (exit {self.proc.poll()})"
        return dict(json.loads(line))

    def step(self, index: int, events: list[dict[str, Any]], *, kill: bool = False) -> None:
        self._send({"step": index, "events": events})
        if kill:  # it is now working on this step
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self._close_pipes()
            return
        assert self._read() == {"done": index}

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def test_sigkill_mid_incident_recovers_and_never_repeats_an_action(
    aws: AwsPort, tmp_path: Path
) -> None:
    scenario = parse_scenario(SCENARIO).scenario
    events: list[dict[str, Any]] = []
    sim = Simulation(aws, scenario, sink=events.append)
    estate = sim.setup()
    setup = {
        "endpoint": aws.endpoint_url,
        "estate": asdict(estate),
        "catalogue": {k: asdict(v) for k, v in catalogue_of(scenario, sim.profiles).items()},
        "start": sim.start.isoformat(),
        "step_s": scenario.step,
        "state_dir": str(tmp_path),
    }
    kill_at = {9, 11, 13}  # while the incident opens, is diagnosed and acted on, and verified
    commander = CommanderProcess(setup)
    recovered: list[list[str]] = []
    for report in sim.run():
        step_events = list(events)
        events.clear()
        if report.index in kill_at:
            commander.step(report.index, step_events, kill=True)
            commander = CommanderProcess(setup)  # restart: recover, then redo the step
            recovered.append(commander.recovered)
        commander.step(report.index, step_events)
    commander.close()

    # Every restart found the incident open and carried it on.
    assert any(recovered), "no restart found an open incident to recover"
    # The incident ended resolved, with the database rebooted exactly once.
    ctx = RunContext(
        port=aws,
        estate=estate,
        catalogue=catalogue_of(scenario, sim.profiles),
        ledger=ActionLedger(tmp_path / "ledger.sqlite"),
        clock=Clock(start=sim.start, step_s=scenario.step, step=scenario.steps),
    )
    with open_checkpointer(tmp_path / "checkpoints.sqlite") as saver:
        final = Commander(build_graph(saver), ctx)
        final.recover()
        states = [final.state(i) for i in final.incidents]
    confirmed = [s for s in states if s.get("confirmed_step") is not None]
    for s in confirmed:
        print(
            s["incident_id"],
            s["opened_step"],
            [a["fingerprint"] for a in s["alerts"]],
            [t["text"] for t in s["timeline"]],
        )
    assert [s.get("status") for s in confirmed] == ["resolved"]
    executed = [a for s in states for a in s.get("actions", [])]
    assert [(a["action"], a["service"]) for a in executed] == [("reboot-database", "api-db")]
    rds_events = aws.rds.describe_events(
        SourceIdentifier=estate.services["api-db"].db_instance_id or "",
        SourceType="db-instance",
    )["Events"]
    reboots = [e for e in rds_events if e["Message"] == "DB instance restarted"]
    assert len(reboots) == 1, f"AWS saw {len(reboots)} reboots"
    # And the fault really is cured in the world.
    assert all(run.cured_step is not None for run in sim.runs)


class _ProcessDiedError(Exception):
    """Where the process of ``_DiesAtSecondCheckpoint`` stops."""


class _DiesAtSecondCheckpoint(SqliteSaver):
    """A checkpointer in a process that dies as the run opening a thread saves its second
    checkpoint: the input's checkpoint and the first task's writes are stored, the checkpoint
    of that first step is not (the window a SIGKILL hit in the cluster's fail-over test)."""

    puts = 0

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self.puts += 1
        if self.puts == 2:
            raise _ProcessDiedError("killed before the first step's checkpoint")
        return super().put(config, checkpoint, metadata, new_versions)


def test_a_thread_whose_process_died_before_its_first_step_was_checkpointed_runs_on(
    aws: AwsPort, tmp_path: Path
) -> None:
    scenario = parse_scenario(SCENARIO).scenario
    sim = Simulation(aws, scenario)
    estate = sim.setup()
    for report in sim.run():
        if report.index == 3:
            break

    def context() -> RunContext:
        return RunContext(
            port=aws,
            estate=estate,
            catalogue=catalogue_of(scenario, sim.profiles),
            ledger=ActionLedger(tmp_path / "ledger.sqlite"),
            clock=Clock(start=sim.start, step_s=scenario.step, step=3),
        )

    alert = Signal(fingerprint="generic:late", source="generic", firing=True,
                   title="api latency above SLO", service="api")  # fmt: skip
    with closing(sqlite3.connect(tmp_path / "checkpoints.sqlite", check_same_thread=False)) as db:
        dying = Commander(build_graph(_DiesAtSecondCheckpoint(db)), context())
        with pytest.raises(_ProcessDiedError):
            dying.ingest_signals([alert])
        [incident_id] = dying.incidents

        restarted = Commander(build_graph(SqliteSaver(db)), context())
        restarted.recover()
        state = restarted.state(incident_id)
    # Detection looked at it (a fault-free estate: closed as noise) instead of the thread
    # being taken as ended with nothing done, its incident listed open for ever.
    assert [entry["node"] for entry in state["timeline"]][:1] == ["detection"]
    assert state.get("status") == "noise"
    assert restarted.incidents[incident_id].finished
