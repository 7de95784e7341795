"""Any valid scenario file runs: hypothesis writes estates and timelines the project has never
seen (every service kind, random dependency graphs, every event kind on every target it may
take) and each must run through the real simulator against the emulator."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings

import scenariokit
from services.aws.port import AwsPort
from services.scenario.loader import parse_scenario
from services.simulator.simulation import Simulation


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=scenariokit.scenarios(steps=(4, 7), events=(0, 3)))
def test_any_valid_scenario_runs_to_the_end(aws: AwsPort, document: dict[str, Any]) -> None:
    loaded = parse_scenario(yaml.safe_dump(document), "generated.yaml")
    sim = Simulation(aws, loaded.scenario)
    reports = list(sim.run())

    assert len(reports) == loaded.scenario.steps
    assert sim.estate is not None
    for name in sim.estate.services:
        first = reports[-1].services[name].datums[0].metric
        metrics = aws.cloudwatch.list_metrics(
            Namespace=first.namespace,
            MetricName=first.name,
            Dimensions=[{"Name": k, "Value": v} for k, v in first.dimensions],
        )["Metrics"]
        assert metrics, f"{name}: its metrics are not readable in CloudWatch"
