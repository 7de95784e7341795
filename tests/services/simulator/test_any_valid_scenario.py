"""Any valid scenario file runs: hypothesis writes estates and timelines the project has never
seen (every service kind, random dependency graphs, every event kind on every target it may
take) and each must run through the real simulator against the emulator."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.aws.port import AwsPort
from services.scenario.loader import parse_scenario
from services.scenario.model import FAULT_TARGET_KINDS, FaultKind, NoiseKind, ServiceKind
from services.simulator.simulation import Simulation

EVENT_KINDS = [k.value for k in FaultKind] + [k.value for k in NoiseKind]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    services: list[dict[str, Any]] = []
    for index in range(count):
        kind = draw(st.sampled_from([k.value for k in ServiceKind]))
        service: dict[str, Any] = {"name": f"svc{index}", "kind": kind}
        earlier = [s["name"] for s in services]
        if earlier:  # depend only on earlier services: always a DAG
            service["depends_on"] = draw(st.lists(st.sampled_from(earlier), unique=True))
        if draw(st.booleans()):
            service["noise"] = draw(st.floats(0, 0.2))
        if draw(st.booleans()):
            service["seasonality"] = "daily"
        if draw(st.booleans()):
            service["protected"] = True
        services.append(service)
    steps = draw(st.integers(4, 7))
    events = []
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(services))
        kinds = [
            k
            for k in EVENT_KINDS
            if k not in FAULT_TARGET_KINDS or ServiceKind(target["kind"]) in FAULT_TARGET_KINDS[k]
        ]
        events.append(
            {
                "at": f"{draw(st.integers(0, steps - 1))}m",
                "kind": draw(st.sampled_from(kinds)),
                "target": target["name"],
            }
        )
    return {
        "version": 1,
        "name": "generated",
        "seed": draw(st.integers(0, 2**31)),
        "duration": f"{steps}m",
        "step": "60s",
        "services": services,
        "events": events,
    }


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=scenarios())
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
