"""Any valid scenario runs through the whole commander, not only the simulator: hypothesis
writes estates and timelines the project has never seen, long enough for incidents to be
detected, diagnosed, voted on and acted on, and every run must finish with a result."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.runner import RunOptions, run_scenario
from services.aws.port import AwsPort
from services.scenario.loader import parse_scenario
from services.scenario.model import FAULT_TARGET_KINDS, FaultKind, NoiseKind, ServiceKind

EVENT_KINDS = [k.value for k in FaultKind] + [k.value for k in NoiseKind]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    services: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 4))):
        service: dict[str, Any] = {
            "name": f"svc{index}",
            "kind": draw(st.sampled_from([k.value for k in ServiceKind])),
            "tier": draw(st.sampled_from(["critical", "important", "supporting"])),
        }
        earlier = [s["name"] for s in services]
        if earlier:
            service["depends_on"] = draw(st.lists(st.sampled_from(earlier), unique=True))
        if draw(st.booleans()):
            service["protected"] = True
        services.append(service)
    events = []
    for _ in range(draw(st.integers(1, 2))):
        target = draw(st.sampled_from(services))
        kinds = [
            k
            for k in EVENT_KINDS
            if k not in FAULT_TARGET_KINDS or ServiceKind(target["kind"]) in FAULT_TARGET_KINDS[k]
            if not (k == "flapping-alert" and target["kind"] == "rds")
        ]
        events.append(
            {
                "at": f"{draw(st.integers(9, 12))}m",
                "kind": draw(st.sampled_from(kinds)),
                "target": target["name"],
            }
        )
    return {
        "version": 1,
        "name": "generated",
        "seed": draw(st.integers(0, 2**31)),
        "duration": "20m",
        "services": services,
        "events": events,
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=scenarios(), answer=st.sampled_from(["grant", "deny", "never"]))
def test_any_valid_scenario_runs_through_the_commander(
    aws: AwsPort, document: dict[str, Any], answer: Any
) -> None:
    loaded = parse_scenario(yaml.safe_dump(document), "generated.yaml")

    result = run_scenario(aws, loaded, RunOptions(approve=answer))

    assert result.steps == 20
    assert result.scenario == "generated"
    # Nothing runs that was not put to the vote, and a detected incident is on record.
    assert set(result.executed) <= set(result.proposed)
    assert bool(result.incident_ids) == result.detected
