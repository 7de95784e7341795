"""A decision's AWS reads under real API latency: every call made once a step, and no more than
two of them one after the other (the metrics, then the logs with the capacity and revision of
the services diagnosis may blame). Each call is held a fixed time, as a region's API latency
would hold it, through botocore's own event hooks on the clients the decision uses."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger
from orchestrator.runner import catalogue_of
from orchestrator.state import IncidentState
from services.aws.port import AwsPort, botocore_config
from services.scenario.loader import builtin_scenarios, load_scenario
from services.settings import Settings
from services.simulator.simulation import Simulation

DELAY_S = 0.25
"""Each call's latency: far above the emulator's own time, so calls in parallel overlap."""


@dataclass(frozen=True, slots=True)
class Call:
    operation: str
    started: float
    ended: float


class SlowAws:
    """An AWS port on the emulator whose every call is held ``DELAY_S`` and recorded."""

    def __init__(self, aws: AwsPort) -> None:
        self.port = AwsPort(
            mode=aws.mode,
            region=aws.region,
            endpoint_url=aws.endpoint_url,
            config=botocore_config(Settings(_env_file=None)),  # type: ignore[call-arg]
        )
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        port = self.port
        for client in (port.cloudwatch, port.logs, port.ecs, port.autoscaling, port.lambda_):
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)

    def _before(self, context: dict[str, Any], **_: Any) -> None:
        context["started"] = time.perf_counter()
        time.sleep(DELAY_S)

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.calls.append(Call(model.name, context["started"], time.perf_counter()))

    def in_sequence(self) -> int:
        """The longest chain of calls each made after the one before it had answered."""
        depth: dict[Call, int] = {}
        for call in sorted(self.calls, key=lambda c: c.started):
            before = [depth[c] for c in depth if c.ended <= call.started]
            depth[call] = 1 + max(before, default=0)
        return max(depth.values(), default=0)


def test_a_decision_reads_each_thing_once_and_waits_on_two_round_trips(
    aws: AwsPort, tmp_path: Path
) -> None:
    scenario = load_scenario(builtin_scenarios()["checkout-bad-deploy"]).scenario
    events: list[dict[str, Any]] = []
    sim = Simulation(aws, scenario, sink=events.append)
    estate = sim.setup()
    onset = next(e.at for e in scenario.events if e.kind == "bad-deploy") // scenario.step
    while sim.step_index <= onset + 3:
        sim.step()
    alarm = next(
        e for e in events
        if e["detail-type"] == "CloudWatch Alarm State Change"
        and e["detail"]["state"]["value"] == "ALARM"
    )  # fmt: skip
    slow = SlowAws(aws)
    ctx = RunContext(
        port=slow.port,
        estate=estate,
        catalogue=catalogue_of(scenario, sim.profiles),
        ledger=ActionLedger(tmp_path / "ledger.sqlite"),
        clock=Clock(start=sim.start, step_s=scenario.step, step=sim.step_index - 1),
    )
    graph = build_graph(InMemorySaver())
    alert = Commander(graph, ctx).normalise(alarm)
    assert alert is not None
    initial: IncidentState = {
        "incident_id": "inc-slow", "alerts": [alert], "opened_step": ctx.clock.step, "votes": [],
        "decisions": [], "actions": [], "tried": [], "timeline": [],
    }  # fmt: skip

    final = graph.invoke(
        initial,
        {"configurable": {"thread_id": "inc-slow"}},
        context=ctx,
        interrupt_before=["execute", "approval"],
    )
    ctx.ledger.close()

    decision = final["decisions"][-1]
    assert (decision["outcome"], decision["candidate"].split(":")[:2]) == (
        "execute",
        ["rollback-deployment", "checkout"],
    )
    logged = sum(1 for res in estate.services.values() if res.log_group)
    ecs = sum(1 for res in estate.services.values() if res.task_family)
    made = Counter(c.operation for c in slow.calls)
    assert made["GetMetricData"] == 1  # every metric of the step, in one batch
    assert made["FilterLogEvents"] == logged  # each service's logs, once
    assert made["DescribeServices"] == 1  # capacity and revision of the cluster's suspects
    assert 1 <= made["ListTaskDefinitions"] <= ecs  # the revision before, once a suspect
    assert set(made) == {
        "GetMetricData",
        "FilterLogEvents",
        "DescribeServices",
        "ListTaskDefinitions",
    }
    assert slow.in_sequence() == 2, sorted(slow.calls, key=lambda c: c.started)
