"""What watching an estate costs in AWS calls: the calls the commander makes each step (each
minute at CloudWatch's standard 60 s period) on an estate of N services with no incident open,
counted by operation on the embedded emulator.

On a real account the calls are money and rate limits: GetMetricData is billed per metric
requested ($0.01 per 1,000 at the us-east-1 list price), the Describe/List calls are free but
throttled per account. The estate is a generated one of N services of every kind (ECS 40 %,
ASG 20 %, Lambda 20 %, RDS 20 %), simulated so every metric has data; only the commander's own
calls are counted (a hook on the port's clients, switched on around ``Commander.tick``).

Run: ``.venv/bin/python benchmarks/watch_cost.py [--sizes 10 50 150] [--steps 3]``
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

import yaml
from langgraph.checkpoint.memory import InMemorySaver

from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger
from orchestrator.runner import catalogue_of
from services.aws.port import AwsPort, open_aws_port
from services.scenario.loader import parse_scenario
from services.settings import Settings
from services.simulator.simulation import Simulation

GET_METRIC_DATA_USD_PER_1000 = 0.01
KINDS = ["ecs-service", "ecs-service", "asg", "lambda", "rds"]


def scenario(size: int) -> str:
    services: list[dict[str, Any]] = []
    for i in range(size):
        kind = KINDS[i % len(KINDS)]
        service: dict[str, Any] = {"name": f"svc-{i:03d}", "kind": kind, "tier": "important"}
        if kind == "rds":
            service["baseline"] = {"cpu": 25, "connections": 80, "latency_ms": 4}
        else:
            service["capacity"] = 2
            service["baseline"] = {"rps": 100, "cpu": 30, "latency_ms": 80, "error_rate": 0.1}
        services.append(service)
    return yaml.safe_dump(
        {"version": 1, "name": f"watch-{size}", "seed": 3, "duration": "10m", "step": "60s",
         "services": services}
    )  # fmt: skip


class Calls:
    """Counts the API calls of the port's clients while ``on``."""

    def __init__(self, port: AwsPort) -> None:
        self.on = False
        self.calls: Counter[str] = Counter()
        self.metrics_requested = 0
        self._port = port

    def install(self) -> None:
        for name in ("autoscaling", "cloudwatch", "ec2", "ecs", "elbv2", "iam", "lambda_", "logs",
                     "rds"):  # fmt: skip
            client = getattr(self._port, name)
            client.meta.events.register("before-call.*.*", self._count)
            client.meta.events.register(
                "before-parameter-build.cloudwatch.GetMetricData", self._metrics
            )

    def _count(self, model: Any, **_: Any) -> None:
        if self.on:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _metrics(self, params: dict[str, Any], **_: Any) -> None:
        if self.on:
            self.metrics_requested += len(params.get("MetricDataQueries", []))


def measure(port: AwsPort, size: int, steps: int) -> tuple[Counter[str], int, float]:
    loaded = parse_scenario(scenario(size))
    sim = Simulation(port, loaded.scenario)
    estate = sim.setup()
    calls = Calls(port)
    calls.install()
    ledger = ActionLedger(":memory:")
    ctx = RunContext(
        port=port, estate=estate, catalogue=catalogue_of(loaded.scenario, sim.profiles),
        ledger=ledger, clock=Clock(start=sim.start, step_s=loaded.scenario.step),
    )  # fmt: skip
    commander = Commander(build_graph(InMemorySaver()), ctx)
    for _ in range(3):  # a little history first, uncounted
        ctx.clock.step = sim.step().index
        commander.tick()
    wall = 0.0
    for _ in range(steps):
        ctx.clock.step = sim.step().index
        calls.on = True
        started = time.perf_counter()
        commander.tick()
        wall += time.perf_counter() - started
        calls.on = False
    ledger.close()
    per_step = Counter({op: n // steps for op, n in calls.calls.items()})
    return per_step, calls.metrics_requested // steps, wall / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 150])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    settings = Settings(_env_file=None, aws_mode="embedded")  # type: ignore[call-arg]
    print(
        "| services | calls / step (= / min at 60 s) | per service | GetMetricData calls | "
        "metrics requested / min | GetMetricData USD / 30 days | tick wall s (emulator) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    detail: dict[int, Counter[str]] = {}
    for size in args.sizes:
        with open_aws_port(settings) as port:
            per_step, metrics, wall = measure(port, size, args.steps)
        detail[size] = per_step
        total = sum(per_step.values())
        usd = metrics * 60 * 24 * 30 / 1000 * GET_METRIC_DATA_USD_PER_1000
        print(
            f"| {size} | {total} | {total / size:.2f} | {per_step['cloudwatch:GetMetricData']} | "
            f"{metrics} | {usd:,.2f} | {wall:.2f} |"
        )
    print("\nCalls per step by operation:")
    for size, per_step in detail.items():
        print(
            f"  {size:>4} services: " + ", ".join(f"{op} {n}" for op, n in sorted(per_step.items()))
        )


if __name__ == "__main__":
    main()
