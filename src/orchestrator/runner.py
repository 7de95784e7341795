"""Run scenario files: build the estate, step the simulated clock, judge the outcome.

The runner owns the world (the simulation), the simulated person who answers approvals, and
the judge (``failed_expectations``). The commander under test only ever sees the AWS endpoint
and the EventBridge events the estate emits.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestrator.checkpoints import open_checkpointer
from orchestrator.commander import Commander
from orchestrator.context import Clock, CommanderPolicy, RunContext, ServiceProfile
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger, ChangeLedger
from orchestrator.result import Outcome, RootCauseResult, ScenarioResult, failed_expectations
from orchestrator.state import IncidentState
from services.aws.port import AwsPort
from services.llm import Advisor
from services.metrics import CommanderMetrics
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
    state_dir: Path | None = None
    """Where the checkpoints and the action ledger live; a temporary folder when unset."""
    postgres_url: str | None = None
    """Checkpoint incident threads in Postgres instead of SQLite."""
    policy: CommanderPolicy = field(default_factory=CommanderPolicy)
    commander: bool = True
    """False runs the world alone: the baseline for what the commander saves."""
    metrics: CommanderMetrics | None = None
    """Prometheus metrics to feed from this run; None records none."""
    llm: Advisor | None = None
    """A chat model's second opinion for diagnosis; None: rules only."""


ANSWER_DELAY_S = 120


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
    estate = sim.setup()
    with _state_files(options.state_dir, sim.run_id) as (checkpoints, ledger_path):
        ledger, changelog = ActionLedger(ledger_path), ChangeLedger(ledger_path)
        ctx = RunContext(
            port=port,
            estate=estate,
            catalogue=catalogue_of(scenario, sim.profiles),
            ledger=ledger,
            changelog=changelog,
            clock=Clock(start=sim.start, step_s=scenario.step),
            policy=options.policy,
            metrics=options.metrics,
            llm=options.llm,
        )
        try:
            with open_checkpointer(checkpoints, options.postgres_url) as saver:
                commander = Commander(build_graph(saver), ctx)
                person = _Person(options.approve, max(1, ANSWER_DELAY_S // scenario.step))
                for report in sim.run():
                    if options.commander:
                        ctx.clock.step = report.index
                        commander.tick()
                        commander.ingest(report.events)
                        person.answer(commander, report.index)
                    truth.record(report, options.keep_timeline)
                states = [commander.state(i) for i in commander.incidents]
        finally:
            ledger.close()
            changelog.close()
    recovered, ttr_s = _recovery(scenario, sim.runs, sim.profiles, truth)
    outcome = _outcome(scenario, sim.runs, states, recovered, ttr_s)
    failed = failed_expectations(scenario.expect, outcome)
    forbidden = (
        set(scenario.expect.remediation.forbidden)
        if (scenario.expect and scenario.expect.remediation)
        else set()
    )
    if options.keep_timeline:
        for state in states:
            for entry in state.get("timeline", []):
                truth.timeline.append(
                    {
                        "t_s": entry["step"] * scenario.step,
                        "event": f"{state['incident_id']} {entry['node']}: {entry['text']}",
                    }
                )
        truth.timeline.sort(key=lambda item: item["t_s"])
    return ScenarioResult(
        scenario=scenario.name,
        passed=not failed,
        detected=outcome.detected,
        ttd_s=outcome.ttd_s,
        incident_ids=[s["incident_id"] for s in states if s.get("confirmed_step") is not None],
        root_cause=outcome.root_cause,
        hypotheses=_hypotheses(states),
        root_causes=outcome.causes,
        proposed=_proposed(states),
        executed=outcome.executed,
        forbidden_executed=[a for a in outcome.executed if a in forbidden],
        approval_requested=outcome.approval_requested,
        recovered=recovered,
        ttr_s=ttr_s,
        downtime_cost_usd=_downtime_cost(scenario, truth),
        spend_usd=_spend(scenario, sim.profiles, truth),
        failed_expectations=failed,
        source=str(loaded.source),
        seed=scenario.seed,
        steps=scenario.steps,
        wall_s=round(time.perf_counter() - started, 3),
        timeline=truth.timeline,
        warnings=loaded.warnings,
    )


@dataclass(slots=True)
class _Person:
    """The simulated on-call engineer answering approval requests as ``--approve`` says."""

    policy: ApprovalAnswer
    delay_steps: int
    seen: dict[str, int] = field(default_factory=dict)

    def answer(self, commander: Commander, step: int) -> None:
        for request in commander.pending_approvals():
            key = f"{request['incident_id']}:{request['hash']}"
            asked = self.seen.setdefault(key, step)
            if self.policy == "never" or step - asked < self.delay_steps:
                continue
            commander.answer(
                request["incident_id"], self.policy, "simulated-on-call", request["token"]
            )


@contextmanager
def _state_files(folder: Path | None, run_id: str) -> Iterator[tuple[Path, Path]]:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder / f"{run_id}-checkpoints.sqlite", folder / f"{run_id}-ledger.sqlite"
        return
    with tempfile.TemporaryDirectory(prefix="incident-commander-") as tmp:
        yield Path(tmp) / "checkpoints.sqlite", Path(tmp) / "ledger.sqlite"


def catalogue_of(scenario: Scenario, profiles: dict[str, Profile]) -> dict[str, ServiceProfile]:
    """The estate's catalogue (tier, protection, prices, capacity) from a scenario."""
    return {
        s.name: ServiceProfile(
            name=s.name,
            kind=s.kind.value,
            tier=s.tier.value,
            protected=s.protected,
            baseline_capacity=profiles[s.name].capacity,
            max_capacity=profiles[s.name].max_capacity,
            unit_cost_per_hour=profiles[s.name].unit_cost_per_hour,
            downtime_cost_per_min=s.cost_per_min_of_downtime,
            max_connections=s.baseline.max_connections or 0,
        )
        for s in scenario.services
    }


def _confirmed(states: list[IncidentState]) -> list[IncidentState]:
    """Incidents that detection confirmed, in the order it confirmed them."""
    return sorted(
        (s for s in states if s.get("confirmed_step") is not None),
        key=lambda s: s.get("confirmed_step", 0),
    )


def _hypotheses(states: list[IncidentState]) -> list[RootCauseResult]:
    confirmed = _confirmed(states)
    if not confirmed:
        return []
    return [
        RootCauseResult(
            service=h["service"], fault=h["fault"], rank=rank, confidence=h["confidence"]
        )
        for rank, h in enumerate(confirmed[0].get("hypotheses", []), start=1)
    ]


def _proposed(states: list[IncidentState]) -> list[str]:
    """Every action kind any round put to the vote (candidate ids start with the action), and
    ``escalate`` where an incident was escalated (a decision too, see ``_outcome``)."""
    voted = {
        cid.split(":", 1)[0] for s in states for d in s.get("decisions", []) for cid in d["matrix"]
    }
    escalated = {"escalate" for s in states if s.get("status") == "escalated"}
    return sorted(voted | escalated)


def _outcome(
    scenario: Scenario,
    runs: list[Run],
    states: list[IncidentState],
    recovered: bool,
    ttr_s: int | None,
) -> Outcome:
    confirmed = _confirmed(states)
    faults = [r for r in runs if r.event.kind in {k.value for k in FaultKind}]
    onset = min((r.onset_step for r in faults), default=None)
    ttd = None
    if confirmed and onset is not None:
        ttd = max(0, confirmed[0].get("confirmed_step", 0) - onset) * scenario.step
    causes = [
        RootCauseResult(
            service=top["service"], fault=top["fault"], rank=1, confidence=top["confidence"]
        )
        for s in confirmed
        for top in s.get("hypotheses", [])[:1]
    ]
    root = None
    if confirmed and confirmed[0].get("hypotheses"):
        root = causes[0]
    executed = [
        a["action"] for s in states for a in s.get("actions", []) if a["status"] == "succeeded"
    ]
    # The spec's vocabulary has "escalate: a page to a human"; an incident ending escalated
    # is one (its reason in the incident's ``reason``).
    executed += ["escalate" for s in states if s.get("status") == "escalated"]
    return Outcome(
        detected=bool(confirmed),
        ttd_s=ttd,
        root_cause=root,
        causes=causes,
        executed=executed,
        approval_requested=any(s.get("approval_requested") for s in states),
        recovered=recovered,
        ttr_s=ttr_s,
        has_faults=bool(faults),
    )


def _downtime_cost(scenario: Scenario, truth: _Truth) -> float:
    """USD lost to SLO breaches: each breaching service-minute at its tier's price."""
    minutes = scenario.step / 60.0
    cost = 0.0
    for breaching in truth.breaching:
        for name in breaching:
            cost += scenario.service(name).cost_per_min_of_downtime * minutes
    return round(cost, 2)


def _spend(scenario: Scenario, profiles: dict[str, Profile], truth: _Truth) -> float:
    """USD spent on capacity: each step's desired capacity at its unit price."""
    hours = scenario.step / 3600.0
    total = 0.0
    for capacity in truth.capacity:
        for name, units in capacity.items():
            total += units * profiles[name].unit_cost_per_hour * hours
    return round(total, 2)


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
        cure = run.cured_step if run.cured_step is not None else run.resolved_step
        if cure is not None:
            settled = max(settled, cure)
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
