"""Decision latency: an alert in, to the consensus decision, on the real incident graph.

The world is ``checkout-bad-deploy`` run to three steps after its bad deploy, so the alert's
anomaly is already persistent. Each trial normalises the CloudWatch alarm event and runs a new
incident thread from ``detect`` to the decision (stopping before ``execute``, so the world is
the same for every trial): detection reads every metric, diagnosis reads metrics, logs and
revisions, remediation reads capacity, the five agents vote in parallel, consensus decides.

Measured side by side in one run, interleaved trial by trial:

- ``real+sqlite``: the real graph with the SQLite checkpointer (the default);
- ``real+memory``: the real graph with LangGraph's in-memory saver;
- ``noop+sqlite`` and ``noop+memory``: a graph of the same shape (same nodes, edges, five-way
  fan-out) whose nodes do nothing, the baseline.

Run: ``.venv/bin/python benchmarks/decision_latency.py [--trials N]``
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.model import Candidate
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import IncidentGraph, build_graph
from orchestrator.ledger import ActionLedger
from orchestrator.runner import catalogue_of
from orchestrator.state import IncidentState
from services.aws.port import open_aws_port
from services.scenario.loader import builtin_scenarios, load_scenario
from services.settings import Settings
from services.simulator.simulation import Simulation

_NOOP_CANDIDATE = Candidate(
    id="noop", action="notify", service="x", params={}, addresses="none", risk="low",
    reversible=True, destructive=False, protected=False, widens_exposure=False,
    expected_effect="", rollback=None, rank=0,
)  # fmt: skip
NOOP: dict[str, Any] = {
    "detect": lambda state, runtime: {"status": "confirmed", "confirmed_step": 0, "anomalies": []},
    "diagnose": lambda state, runtime: {"hypotheses": [], "round": 1, "max_rounds": 1},
    "propose": lambda state, runtime: {"candidates": [_NOOP_CANDIDATE]},
    "vote": lambda task, runtime: {"votes": []},
    "decide": lambda state, runtime: {
        "pending": "noop",
        "decisions": [
            {
                "round": 1,
                "outcome": "execute",
                "candidate": "noop",
                "rule": "noop",
                "matrix": {},
                "scores": {},
            }
        ],
    },
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    scenario = load_scenario(builtin_scenarios()["checkout-bad-deploy"]).scenario
    events: list[dict[str, Any]] = []
    with (
        open_aws_port(Settings(_env_file=None, aws_mode="embedded")) as port,  # type: ignore[call-arg]
        tempfile.TemporaryDirectory() as tmp,
    ):
        sim = Simulation(port, scenario, sink=events.append)
        estate = sim.setup()
        onset = next(e.at for e in scenario.events if e.kind == "bad-deploy") // scenario.step
        while sim.step_index <= onset + 3:
            sim.step()
        alarm = next(
            e for e in events
            if e["detail-type"] == "CloudWatch Alarm State Change"
            and e["detail"]["state"]["value"] == "ALARM"
        )  # fmt: skip
        ctx = RunContext(
            port=port,
            estate=estate,
            catalogue=catalogue_of(scenario, sim.profiles),
            ledger=ActionLedger(Path(tmp) / "ledger.sqlite"),
            clock=Clock(start=sim.start, step_s=scenario.step, step=sim.step_index - 1),
        )
        connection = sqlite3.connect(str(Path(tmp) / "checkpoints.sqlite"), check_same_thread=False)
        graphs: dict[str, IncidentGraph] = {
            "real+sqlite": build_graph(SqliteSaver(connection)),
            "real+memory": build_graph(InMemorySaver()),
            "noop+sqlite": build_graph(SqliteSaver(connection), nodes=NOOP),
            "noop+memory": build_graph(InMemorySaver(), nodes=NOOP),
        }
        commander = Commander(graphs["real+memory"], ctx)
        timings: dict[str, list[float]] = {name: [] for name in graphs}
        outcomes: dict[str, set[str]] = {name: set() for name in graphs}
        for trial in range(args.trials + 5):
            for name, graph in graphs.items():
                ctx.series_cache.clear()  # every decision pays its own reads
                started = time.perf_counter()
                alert = commander.normalise(alarm)
                assert alert is not None
                initial: IncidentState = {
                    "incident_id": f"{name}-{trial}", "alerts": [alert],
                    "opened_step": ctx.clock.step, "votes": [], "decisions": [], "actions": [],
                    "tried": [], "timeline": [],
                }  # fmt: skip
                final = graph.invoke(
                    initial,
                    {"configurable": {"thread_id": f"{name}-{trial}"}},
                    context=ctx,
                    interrupt_before=["execute", "approval"],
                )
                elapsed = time.perf_counter() - started
                if trial >= 5:  # the first rounds warm imports, pools and caches
                    timings[name].append(elapsed)
                    outcomes[name].add(final["decisions"][-1]["outcome"])
        connection.close()
        ctx.ledger.close()
    base = statistics.median(timings["noop+memory"])
    print(f"decision latency, {args.trials} trials each, interleaved; alert -> decision")
    print(f"{'graph':12} {'p50 ms':>8} {'p99 ms':>8} {'x noop p50':>11}  decisions")
    for name, values in timings.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(
            f"{name:12} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {p50 / base:11.1f}  "
            f"{','.join(sorted(outcomes[name]))}"
        )


if __name__ == "__main__":
    main()
