"""Run scenario files: build the estate, step the simulated clock, judge the outcome.

The runner owns the world (the simulation) and the judge (``failed_expectations``); the
commander under test only ever sees the AWS endpoint and the EventBridge events the estate
emits. Until the agent graph is wired in, nothing opens incidents, so runs report
``detected: false`` and fail every expectation that needs the commander.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.result import Outcome, ScenarioResult, failed_expectations
from services.aws.port import AwsPort
from services.scenario.loader import LoadedScenario
from services.scenario.model import CostRunaway, FaultKind, Scenario
from services.simulator.dynamics import Profile
from services.simulator.faults import NEEDS_A_CURE, Run
from services.simulator.simulation import Simulation, StepReport

ApprovalAnswer = Literal["grant", "deny", "never"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    approve: ApprovalAnswer = "grant"
    """How the simulated person answers approval requests (grant: two simulated minutes later)."""
    keep_timeline: bool = True


@dataclass(slots=True)
class _Truth:
    """What really happened, step by step, for judging recovery and downtime."""

    breaching: list[dict[str, list[str]]] = field(default_factory=list)
    capacity: list[dict[str, int]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def record(self, report: StepReport, keep_timeline: bool) -> None:
        self.breaching.append(report.breaching)
        self.capacity.append({n: s.observed.capacity for n, s in report.services.items()})
        if keep_timeline:
            for note in report.notes:
                self.timeline.append({"t_s": report.elapsed_s, "event": note})
            for event in report.events:
                self.timeline.append({"t_s": report.elapsed_s, "event": _describe(event)})


def run_scenario(
    port: AwsPort, loaded: LoadedScenario, options: RunOptions | None = None
) -> ScenarioResult:
    """Run one scenario to the end of its clock and return its judged result."""
    options = options or RunOptions()
    scenario = loaded.scenario
    started = time.perf_counter()
    truth = _Truth()
    sim = Simulation(port, scenario, sink=truth.events.append)
    sim.setup()
    for report in sim.run():
        truth.record(report, options.keep_timeline)
    recovered, ttr_s = _recovery(scenario, sim.runs, sim.profiles, truth)
    outcome = Outcome(
        detected=False,
        ttd_s=None,
        root_cause=None,
        executed=[],
        approval_requested=False,
        recovered=recovered,
        ttr_s=ttr_s,
        has_faults=bool(scenario.faults),
    )
    failed = failed_expectations(scenario.expect, outcome)
    return ScenarioResult(
        scenario=scenario.name,
        passed=not failed,
        detected=outcome.detected,
        ttd_s=outcome.ttd_s,
        recovered=recovered,
        ttr_s=ttr_s,
        downtime_cost_usd=_downtime_cost(scenario, truth),
        failed_expectations=failed,
        source=str(loaded.source),
        seed=scenario.seed,
        steps=scenario.steps,
        wall_s=round(time.perf_counter() - started, 3),
        timeline=truth.timeline,
        warnings=loaded.warnings,
    )


def _downtime_cost(scenario: Scenario, truth: _Truth) -> float:
    """USD lost to SLO breaches: each breaching service-minute at its tier's price."""
    minutes = scenario.step / 60.0
    cost = 0.0
    for breaching in truth.breaching:
        for name in breaching:
            cost += scenario.service(name).cost_per_min_of_downtime * minutes
    return round(cost, 2)


def _recovery(
    scenario: Scenario, runs: list[Run], profiles: dict[str, Profile], truth: _Truth
) -> tuple[bool, int | None]:
    """Whether the estate recovered, and how long after the first fault's onset.

    Recovered means: every fault is cured, over, or (for capacity faults) outgrown, and from
    some step on every SLO metric stays inside its baseline band to the end of the run.
    """
    faults = [r for r in runs if r.event.kind in {k.value for k in FaultKind}]
    if not faults:
        return True, None
    if truth.breaching[-1]:
        return False, None
    onset = min(r.onset_step for r in faults)
    last = len(truth.breaching)
    healthy_from = last
    while healthy_from > onset and not truth.breaching[healthy_from - 1]:
        healthy_from -= 1
    settled = healthy_from
    for run in faults:
        if run.cured_step is not None:
            settled = max(settled, run.cured_step)
        elif run.end_step is not None and run.end_step <= last:
            settled = max(settled, run.end_step)
        elif isinstance(run.event, CostRunaway):
            baseline = profiles[run.event.target].capacity
            step = _settled_capacity(truth, run.event.target, baseline, run.onset_step)
            if step is None:
                return False, None
            settled = max(settled, step)
        elif run.event.kind in NEEDS_A_CURE:
            return False, None  # a fault with a cure that never came
    return True, (settled - onset) * scenario.step


def _settled_capacity(truth: _Truth, name: str, baseline: int, onset: int) -> int | None:
    """First step after ``onset`` from which capacity stays within 1.5 x its baseline."""
    limit = baseline * 1.5
    settled: int | None = None
    for index in range(onset + 1, len(truth.capacity)):
        if truth.capacity[index][name] <= limit:
            settled = index if settled is None else settled
        else:
            settled = None
    return settled


def _describe(event: dict[str, Any]) -> str:
    detail = event.get("detail", {})
    kind = event.get("detail-type", "event")
    if kind == "CloudWatch Alarm State Change":
        return f"alarm {detail.get('alarmName')} -> {detail.get('state', {}).get('value')}"
    if kind == "GuardDuty Finding":
        return f"GuardDuty {detail.get('type')}: {detail.get('title')}"
    return f"{kind}: {detail.get('eventName', '')}"
