"""Reading scenario files: what a user sees when a file is right, and when it is wrong."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import skip_or_fail
from services.errors import ScenarioNotFoundError, ScenarioValidationError
from services.scenario.loader import (
    LIBRARY_DIR,
    load_scenario,
    parse_scenario,
    resolve_scenarios,
)
from services.scenario.model import (
    BadDeploy,
    FaultKind,
    NoiseKind,
    ServiceKind,
    parse_duration,
)

SPEC_NAME = "scenario-format.md"
SPEC_FOLDERS = ("docs/spec", "shared/spec")
"""Where the format spec lives, relative to this file's ancestors (the repo, or its workspace)."""


def _spec_example() -> str:
    for folder in Path(__file__).resolve().parents:
        for relative in SPEC_FOLDERS:
            spec = folder / relative / SPEC_NAME
            if spec.is_file():
                match = re.search(r"```yaml\n(.*?)```", spec.read_text(encoding="utf-8"), re.S)
                assert match, f"{spec} has no ```yaml example block"
                return match.group(1)
    skip_or_fail(f"{SPEC_NAME} not found in {' or '.join(SPEC_FOLDERS)} above the tests")


def _minimal(**changes: Any) -> dict[str, Any]:
    """A small valid scenario as a mapping, with top-level ``changes`` applied."""
    document: dict[str, Any] = {
        "version": 1,
        "name": "minimal",
        "duration": "30m",
        "services": [
            {
                "name": "api",
                "kind": "ecs-service",
                "depends_on": ["api-db"],
                "baseline": {"rps": 100, "cpu": 30, "latency_ms": 50, "error_rate": 0.1},
            },
            {"name": "api-db", "kind": "rds", "baseline": {"cpu": 25, "connections": 10}},
        ],
        "events": [{"at": "12m", "kind": "cpu-saturation", "target": "api"}],
    }
    document.update(changes)
    return document


def _issues(document: dict[str, Any] | str, source: str = "broken.yaml") -> dict[str, str]:
    """Field -> message of every issue the loader reports for ``document``."""
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    with pytest.raises(ScenarioValidationError) as caught:
        parse_scenario(text, source)
    return {issue.field: issue.message for issue in caught.value.issues}


# --- a valid file ----------------------------------------------------------------------------


def test_spec_example_parses_to_the_values_it_states() -> None:
    loaded = parse_scenario(_spec_example(), "spec.yaml")
    scenario = loaded.scenario

    assert loaded.warnings == []
    assert (scenario.name, scenario.seed) == ("checkout-bad-deploy", 7)
    assert (scenario.duration, scenario.step, scenario.steps) == (2400, 60, 40)
    assert [s.name for s in scenario.services] == ["frontend", "checkout", "catalog", "orders-db"]
    assert scenario.service("frontend").depends_on == ["checkout", "catalog"]
    assert scenario.service("frontend").baseline.error_rate == 0.2
    assert scenario.service("orders-db").kind == ServiceKind.RDS
    assert scenario.service("orders-db").protected is True
    deploy, fault = scenario.events
    assert (deploy.kind, deploy.target, deploy.at) == (NoiseKind.DEPLOY, "catalog", 720)
    assert isinstance(fault, BadDeploy)
    assert (fault.target, fault.at, fault.params.error_rate) == ("checkout", 900, 25)
    assert scenario.faults == [fault]
    expect = scenario.expect
    assert expect is not None
    assert (expect.incident, expect.detect_within, expect.recovered_within) == (True, 180, 720)
    assert expect.root_cause is not None
    assert (expect.root_cause.service, expect.root_cause.fault) == (
        "checkout",
        FaultKind.BAD_DEPLOY,
    )
    assert expect.remediation is not None
    assert expect.remediation.any_of == ["rollback-deployment"]
    assert expect.remediation.approval == "auto"


def test_builtin_checkout_bad_deploy_is_the_spec_example_verbatim() -> None:
    builtin = (LIBRARY_DIR / "checkout-bad-deploy.yaml").read_text(encoding="utf-8")

    assert builtin == _spec_example()


# --- problems, each with its file and field --------------------------------------------------


def test_unknown_top_level_key_is_rejected_under_its_own_name() -> None:
    issues = _issues(_minimal(owner="team-a"))

    assert list(issues) == ["owner"]
    assert "unknown top-level key" in issues["owner"]


def test_every_problem_in_a_file_is_reported_with_file_and_field(tmp_path: Path) -> None:
    document = _minimal(owner="team-a")
    document["services"][0]["baseline"]["cpu"] = 150
    document["services"][1]["kind"] = "dynamodb"
    document["events"][0]["at"] = "soon"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    with pytest.raises(ScenarioValidationError) as caught:
        load_scenario(path)

    fields = [issue.field for issue in caught.value.issues]
    assert sorted(fields) == sorted(
        ["owner", "services[0].baseline.cpu", "services[1].kind", "events[0].at"]
    )
    message = str(caught.value)
    assert "4 problems" in message
    for field in fields:
        assert f"broken.yaml: {field}: " in message


def test_unknown_event_kind_lists_the_known_kinds() -> None:
    document = _minimal()
    document["events"].append({"at": "15m", "kind": "meteor-strike", "target": "api"})

    issues = _issues(document)

    assert list(issues) == ["events[1]"]
    assert "meteor-strike" in issues["events[1]"]
    for kind in [*FaultKind, *NoiseKind]:
        assert kind.value in issues["events[1]"]


def test_dependency_cycle_is_reported_with_its_path() -> None:
    document = _minimal()
    document["services"].append({"name": "worker", "kind": "asg", "depends_on": ["api"]})
    document["services"][0]["depends_on"] = ["worker"]

    issues = _issues(document)

    assert list(issues) == ["services"]
    assert re.search(r"cycle (api -> worker -> api|worker -> api -> worker)", issues["services"])


def test_event_target_that_is_not_a_service_is_reported_on_the_event() -> None:
    document = _minimal()
    document["events"].append({"at": "15m", "kind": "deploy", "target": "billing"})

    issues = _issues(document)

    assert list(issues) == ["events[1].target"]
    assert "'billing'" in issues["events[1].target"]


def test_fault_on_the_wrong_kind_of_service_names_the_kinds_it_applies_to() -> None:
    document = _minimal(events=[{"at": "12m", "kind": "disk-full", "target": "api"}])

    issues = _issues(document)

    assert list(issues) == ["events[0].kind"]
    assert "ecs-service" in issues["events[0].kind"]
    assert "applies to rds" in issues["events[0].kind"]


def test_unknown_nested_field_is_only_a_warning_that_names_it() -> None:
    document = _minimal()
    document["services"][0]["baseline"]["p99_ms"] = 300

    loaded = parse_scenario(yaml.safe_dump(document), "typo.yaml")

    assert loaded.scenario.service("api").baseline.cpu == 30
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("services[0].baseline.p99_ms:")


def test_yaml_syntax_error_reports_line_and_column() -> None:
    text = "version: 1\nname: broken\nservices: [{name: api, kind: ecs-service}\nduration: 30m\n"

    issues = _issues(text)

    (field,) = issues
    assert re.fullmatch(r"line \d+, column \d+", field)
    assert int(field.split()[1].rstrip(",")) >= 3


@pytest.mark.parametrize(
    ("text", "complaint"),
    [("", "empty"), ("   \n# only a comment\n", "empty"), ("- name: api\n", "list")],
)
def test_file_that_is_not_a_mapping_is_a_clear_error(text: str, complaint: str) -> None:
    issues = _issues(text)

    assert list(issues) == ["(top level)"]
    assert "expected a mapping" in issues["(top level)"]
    assert complaint in issues["(top level)"]


def test_infinite_duration_is_a_validation_error() -> None:
    issues = _issues(_minimal(duration=float("inf")))

    assert list(issues) == ["duration"]


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("90s", 90),
        ("40m", 2400),
        ("1h30m", 5400),
        ("2.5m", 150),
        (" 2h ", 7200),
    ],
)
def test_parse_duration_accepts_numbers_and_units(written: object, seconds: int) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize("written", ["-1m", "ten minutes", "1.5s", True, "", -5, None])
def test_parse_duration_rejects_what_is_not_whole_seconds(written: object) -> None:
    with pytest.raises(ValueError, match=r"duration|whole seconds"):
        parse_duration(written)


# --- finding scenarios -----------------------------------------------------------------------


def test_resolve_finds_a_builtin_by_name() -> None:
    (path,) = resolve_scenarios(["checkout-bad-deploy"])

    assert path == LIBRARY_DIR / "checkout-bad-deploy.yaml"


def test_resolve_takes_every_scenario_file_of_a_folder(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "notes.txt"):
        (tmp_path / name).write_text(yaml.safe_dump(_minimal()), encoding="utf-8")

    assert resolve_scenarios([str(tmp_path)]) == [tmp_path / "a.yml", tmp_path / "b.yaml"]


def test_resolve_a_missing_ref_names_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-scenario")

    with pytest.raises(ScenarioNotFoundError, match=re.escape(missing)):
        resolve_scenarios(["checkout-bad-deploy", missing])
