"""How long a simulated 40-minute scenario with six services takes, against two baselines.

Measured side by side in one run, in interleaved rounds (the machine is shared and noisy):

- ``full``: build the estate in the embedded emulator, then 40 steps (events, read-back of every
  resource, dynamics, PutMetricData, logs, alarms);
- ``steps``: the 40 steps alone;
- ``publish-only``: only the PutMetricData calls of the same 40 steps, the least I/O any
  simulator publishing these metrics must do;
- ``dynamics``: the pure model for 40 steps, no AWS at all.

Run: ``.venv/bin/python benchmarks/simulator_speed.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from services.aws.port import AwsPort, open_aws_port
from services.scenario.loader import load_scenario
from services.scenario.model import Scenario
from services.settings import Settings
from services.simulator.dynamics import Conditions, Profile, Sample, sample
from services.simulator.metrics import datums
from services.simulator.simulation import Simulation

SCENARIO = Path(__file__).parent / "scenarios" / "six-services-40m.yaml"


def full_run(port: AwsPort, scenario: Scenario) -> tuple[float, float, Simulation]:
    started = time.perf_counter()
    sim = Simulation(port, scenario)
    sim.setup()
    built = time.perf_counter()
    for _ in sim.run():
        pass
    done = time.perf_counter()
    return done - started, done - built, sim


def publish_only(port: AwsPort, sim: Simulation) -> float:
    """Re-publish the datums of a finished run's estate, one PutMetricData batch per step."""
    assert sim.estate is not None
    replay = Simulation(port, sim.scenario, start=sim.start, run_id=sim.run_id + "p")
    replay.estate = sim.estate
    data = []
    for name, res in sim.estate.services.items():
        healthy = sample(sim.profiles[name], Conditions(capacity=sim.profiles[name].capacity), [])
        data.extend(datums(res, healthy, sim.scenario.step, [0.0] * 8))
    started = time.perf_counter()
    for index in range(sim.scenario.steps):
        replay.step_index = index
        replay._put_metrics(replay.now, data)
    return time.perf_counter() - started


def dynamics_only(scenario: Scenario) -> float:
    profiles = {s.name: Profile.of(s) for s in scenario.services}
    started = time.perf_counter()
    for _ in range(scenario.steps):
        samples: dict[str, Sample] = {}
        for service in reversed(scenario.services):
            deps = [(profiles[d], samples[d]) for d in service.depends_on if d in samples]
            samples[service.name] = sample(
                profiles[service.name], Conditions(capacity=profiles[service.name].capacity), deps
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO).scenario
    timings: dict[str, list[float]] = {"full": [], "steps": [], "publish-only": [], "dynamics": []}
    with open_aws_port(Settings(_env_file=None, aws_mode="embedded")) as port:  # type: ignore[call-arg]
        full_run(port, scenario)  # warm-up: imports, connection pools, moto backends
        for _ in range(args.rounds):
            total, steps, sim = full_run(port, scenario)
            timings["full"].append(total)
            timings["steps"].append(steps)
            timings["publish-only"].append(publish_only(port, sim))
            timings["dynamics"].append(dynamics_only(scenario))
    median: Callable[[list[float]], float] = statistics.median
    base = median(timings["publish-only"])
    simulated = scenario.duration
    print(
        f"scenario {scenario.name}: {len(scenario.services)} services, "
        f"{scenario.steps} steps ({simulated // 60} simulated minutes), {args.rounds} rounds"
    )
    print(f"{'measure':14} {'median s':>9} {'min s':>7} {'x publish-only':>15} {'sim-min/s':>10}")
    for name, values in timings.items():
        med = median(values)
        print(
            f"{name:14} {med:9.3f} {min(values):7.3f} {med / base:15.2f} "
            f"{simulated / 60 / med:10.1f}"
        )


if __name__ == "__main__":
    main()
