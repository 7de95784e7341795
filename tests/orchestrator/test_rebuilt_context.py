"""A commander rebuilt from its checkpoints (a restart, a cluster worker taking an estate
over) knows what the one before it did, from the threads of the incidents it adopts: the
capacity it changed is its own doing, and the cause it fixed was fixed at the step it was, not
at the step the new commander started. What it did before is counted in the metrics of the
process that did it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from orchestrator.checkpoints import open_checkpointer
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger
from orchestrator.runner import catalogue_of
from services.aws.port import AwsPort
from services.metrics import CommanderMetrics
from services.scenario.loader import load_scenario, resolve_scenarios
from services.simulator.simulation import Simulation


def test_a_commander_rebuilt_later_knows_the_capacity_it_changed_and_the_cause_it_fixed(
    aws: AwsPort, tmp_path: Path
) -> None:
    scenario = load_scenario(resolve_scenarios(["search-cpu-saturation"])[0]).scenario
    sim = Simulation(aws, scenario)
    estate = sim.setup()

    def context(step: int, metrics: CommanderMetrics | None = None) -> RunContext:
        return RunContext(
            port=aws, estate=estate, catalogue=catalogue_of(scenario, sim.profiles),
            ledger=ActionLedger(tmp_path / "ledger.sqlite"),
            clock=Clock(start=sim.start, step_s=scenario.step, step=step), metrics=metrics,
        )  # fmt: skip

    with open_checkpointer(tmp_path / "checkpoints.sqlite") as saver:
        first_registry = CollectorRegistry()
        first = Commander(build_graph(saver), context(0, CommanderMetrics(first_registry)))
        for report in sim.run():
            first.ctx.clock.step = report.index
            first.tick()
            first.ingest(report.events)
        [resolved] = [i for i in first.incidents if first.state(i).get("status") == "resolved"]
        assert first.ctx.scaled == {"search"}
        [(service, (fixed_at, fault))] = first.ctx.settled.items()
        assert fixed_at < scenario.steps

        later = scenario.steps + 30
        registry = CollectorRegistry()
        rebuilt = Commander(build_graph(saver), context(later, CommanderMetrics(registry)))
        rebuilt.recover([resolved])

    assert rebuilt.ctx.scaled == {"search"}
    assert rebuilt.ctx.settled == {service: (fixed_at, fault)}  # not the step it was rebuilt at

    def counted(registry: CollectorRegistry, name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    # Counted once, by the commander that did it; the rebuilt one counts from now on.
    for name, labels in (
        ("ic_incidents_closed_total", {"outcome": "resolved"}),
        ("ic_time_to_resolve_seconds_count", {}),
        ("ic_actions_total", {"action": "scale-out", "result": "succeeded"}),
    ):
        assert counted(first_registry, name, **labels) >= 1, name
        assert counted(registry, name, **labels) == 0, name
