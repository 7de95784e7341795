"""Any valid scenario runs through the whole commander, not only the simulator: hypothesis
writes estates and timelines the project has never seen, long enough for incidents to be
detected, diagnosed, voted on and acted on, and every run must finish with a result."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scenariokit
from orchestrator.runner import RunOptions, run_scenario
from services.aws.port import AwsPort
from services.scenario.loader import parse_scenario


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    document=scenariokit.scenarios(steps=(20, 20), events=(1, 2), event_at=(9, 12)),
    answer=st.sampled_from(["grant", "deny", "never"]),
)
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
