"""Decision latency: an alert in, to the consensus decision, on the real incident graph.

The world is ``checkout-bad-deploy`` run to three steps after its bad deploy, so the alert's
anomaly is already persistent. Each trial normalises the CloudWatch alarm event and runs a new
incident thread from ``detect`` to the decision (stopping before ``execute``, so the world is
the same for every trial): detection reads every metric; diagnosis reads the logs, and with
them the capacity and revision of the services it may blame; remediation proposes from those,
the five agents vote in parallel on the same reads, consensus decides.

Measured side by side in one run, interleaved trial by trial:

- ``real+sqlite``: the real graph with the SQLite checkpointer (the default);
- ``real+memory``: the real graph with LangGraph's in-memory saver;
- ``noop+sqlite`` and ``noop+memory``: a graph of the same shape (same nodes, edges, five-way
  fan-out) whose nodes do nothing, the baseline;
- ``real+memory+Nms``: the real graph whose AWS calls go through a proxy on loopback that holds
  each call ``--delay-ms`` before passing it on (``latency_proxy.py``), as a region's API
  latency would. Its extra time over ``real+memory``, divided by the delay, is the number of
  AWS round trips the decision makes one after the other (its critical path); the proxy also
  counts every call, by operation. ``real+memory+proxy`` goes through the same proxy without
  the delay, so the proxy's own cost is not counted as round trips.

Run: ``.venv/bin/python benchmarks/decision_latency.py [--trials N] [--delay-ms MS]``
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from latency_proxy import LatencyProxy

from agents.model import Candidate
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import IncidentGraph, build_graph
from orchestrator.ledger import ActionLedger
from orchestrator.runner import catalogue_of
from orchestrator.state import IncidentState
from services.aws.port import AwsPort, botocore_config, open_aws_port
from services.scenario.loader import builtin_scenarios, load_scenario
from services.settings import AwsMode, Settings
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


PROXIED = "real+memory+proxy"
"""The real graph through the proxy with no delay: what the proxy itself costs."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument(
        "--delay-ms", type=float, default=40.0, help="per-call delay of the slow AWS (ms)"
    )
    args = parser.parse_args()
    delayed_name = f"real+memory+{args.delay_ms:g}ms"
    scenario = load_scenario(builtin_scenarios()["checkout-bad-deploy"]).scenario
    events: list[dict[str, Any]] = []
    with (
        open_aws_port(Settings(_env_file=None, aws_mode="embedded")) as port,  # type: ignore[call-arg]
        tempfile.TemporaryDirectory() as tmp,
        LatencyProxy(str(port.endpoint_url), args.delay_ms / 1000) as proxy,
        LatencyProxy(str(port.endpoint_url), 0.0) as bare,
    ):
        config = botocore_config(Settings(_env_file=None))  # type: ignore[call-arg]
        slow_port, proxied_port = (
            AwsPort(mode=AwsMode.EMBEDDED, region=port.region, endpoint_url=p.url, config=config)
            for p in (proxy, bare)
        )
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
        graphs[PROXIED] = build_graph(InMemorySaver())
        graphs[delayed_name] = build_graph(InMemorySaver())
        contexts = dict.fromkeys(graphs, ctx)
        contexts[PROXIED] = replace(ctx, port=proxied_port, series_cache={})
        contexts[delayed_name] = replace(ctx, port=slow_port, series_cache={})
        commander = Commander(graphs["real+memory"], ctx)
        timings: dict[str, list[float]] = {name: [] for name in graphs}
        outcomes: dict[str, set[str]] = {name: set() for name in graphs}
        calls: Counter[str] = Counter()
        for trial in range(args.trials + 5):
            for name, graph in graphs.items():
                run_ctx = contexts[name]
                run_ctx.series_cache.clear()  # every decision pays its own reads
                run_ctx.reads_cache.clear()
                proxy.take()
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
                    context=run_ctx,
                    interrupt_before=["execute", "approval"],
                )
                elapsed = time.perf_counter() - started
                made = proxy.take()
                if trial >= 5:  # the first rounds warm imports, pools and caches
                    timings[name].append(elapsed)
                    outcomes[name].add(final["decisions"][-1]["outcome"])
                    if name == delayed_name:
                        calls += made
        connection.close()
        ctx.ledger.close()
    base = statistics.median(timings["noop+memory"])
    print(f"decision latency, {args.trials} trials each, interleaved; alert -> decision")
    print(f"{'graph':18} {'p50 ms':>8} {'p99 ms':>8} {'x noop p50':>11}  decisions")
    for name, values in timings.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(
            f"{name:18} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {p50 / base:11.1f}  "
            f"{','.join(sorted(outcomes[name]))}"
        )
    extra = statistics.median(timings[delayed_name]) - statistics.median(timings[PROXIED])
    per_decision = sum(calls.values()) / args.trials
    print(
        f"\nAWS calls per decision: {per_decision:.1f}; sequential round trips on the critical "
        f"path ~ {extra * 1000 / args.delay_ms:.1f} (extra p50 {extra * 1000:.0f} ms at "
        f"{args.delay_ms:g} ms a call, over the same proxy without delay)"
    )
    for operation, count in calls.most_common():
        print(f"  {operation:32} {count / args.trials:5.1f} a decision")


if __name__ == "__main__":
    main()
