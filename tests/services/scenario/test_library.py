"""The built-in scenario library: every file loads cleanly and together they cover format v1."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.scenario.loader import builtin_scenarios, load_scenario
from services.scenario.model import (
    ActionKind,
    Deploy,
    Event,
    Expect,
    FaultKind,
    NoiseKind,
    Scenario,
    ServiceKind,
    TrafficSpike,
)
from services.scenario.oracle import judge

LIBRARY: dict[str, Path] = builtin_scenarios()
GENERATED = "`incident-commander scenario generate"
"""How the header of a library file written by the generator starts its provenance."""

BASELINE_MINUTES = 10
"""The detector needs this much healthy history before the first fault."""

FIXES: dict[FaultKind, set[ActionKind]] = {
    FaultKind.CPU_SATURATION: {ActionKind.SCALE_OUT},
    FaultKind.TRAFFIC_SPIKE: {ActionKind.SCALE_OUT},
    FaultKind.MEMORY_LEAK: {ActionKind.RESTART_SERVICE},
    FaultKind.BAD_DEPLOY: {ActionKind.ROLLBACK_DEPLOYMENT},
    FaultKind.DEPENDENCY_LATENCY: {ActionKind.FAILOVER_DATABASE, ActionKind.REBOOT_DATABASE},
    FaultKind.CONNECTION_EXHAUSTION: {ActionKind.REBOOT_DATABASE, ActionKind.FAILOVER_DATABASE},
    FaultKind.DISK_FULL: {ActionKind.INCREASE_STORAGE},
    FaultKind.CREDENTIAL_COMPROMISE: {ActionKind.DEACTIVATE_ACCESS_KEY},
    FaultKind.INSTANCE_COMPROMISE: {ActionKind.ISOLATE_INSTANCE},
    FaultKind.SECURITY_GROUP_EXPOSURE: {ActionKind.REVOKE_INGRESS_RULE},
    FaultKind.COST_RUNAWAY: {ActionKind.SCALE_IN},
}
"""The actions that address each fault; a scenario may accept fewer, never others."""

DATABASE_RESTARTS = {ActionKind.REBOOT_DATABASE, ActionKind.FAILOVER_DATABASE}


@pytest.fixture(scope="module")
def library() -> dict[str, Scenario]:
    return {name: load_scenario(path).scenario for name, path in LIBRARY.items()}


def _window(event: Event, scenario: Scenario) -> tuple[int, int]:
    """Seconds from the event's onset to its end (the end of the run when it lasts)."""
    end = scenario.duration if event.params.duration is None else event.at + event.params.duration
    return event.at, end


def _is_noise_only(scenario: Scenario) -> bool:
    return not scenario.faults


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_builtin_scenario_loads_without_warnings_and_is_named_after_its_file(name: str) -> None:
    loaded = load_scenario(LIBRARY[name])

    assert loaded.warnings == []
    assert loaded.scenario.name == LIBRARY[name].stem == name


def test_library_holds_at_least_sixteen_scenarios() -> None:
    assert len(LIBRARY) >= 16


def test_library_covers_every_event_kind(library: dict[str, Scenario]) -> None:
    used = {event.kind for scenario in library.values() for event in scenario.events}

    assert {kind.value for kind in FaultKind} - used == set()
    assert {kind.value for kind in NoiseKind} - used == set()


def test_library_covers_every_service_kind(library: dict[str, Scenario]) -> None:
    used = {service.kind for scenario in library.values() for service in scenario.services}

    assert set(ServiceKind) - used == set()


def test_library_has_a_malicious_traffic_spike(library: dict[str, Scenario]) -> None:
    assert any(
        isinstance(event, TrafficSpike) and event.params.malicious
        for scenario in library.values()
        for event in scenario.events
    )


def test_library_has_a_protected_database_whose_fix_needs_approval(
    library: dict[str, Scenario],
) -> None:
    found = [
        name
        for name, scenario in library.items()
        if scenario.expect
        and scenario.expect.root_cause
        and scenario.expect.remediation
        and scenario.service(scenario.expect.root_cause.service).kind == ServiceKind.RDS
        and scenario.service(scenario.expect.root_cause.service).protected
        and scenario.expect.remediation.approval == "required"
    ]

    assert found, "no scenario where the fix is on a protected database"


def test_library_has_two_faults_on_different_services_at_once(
    library: dict[str, Scenario],
) -> None:
    def overlapping(scenario: Scenario) -> bool:
        faults = scenario.faults
        for index, first in enumerate(faults):
            for second in faults[index + 1 :]:
                start_a, end_a = _window(first, scenario)
                start_b, end_b = _window(second, scenario)
                if first.target != second.target and start_a < end_b and start_b < end_a:
                    return True
        return False

    assert any(overlapping(scenario) for scenario in library.values())


def test_library_has_a_cascade_from_a_dependency(library: dict[str, Scenario]) -> None:
    def callers(scenario: Scenario, name: str) -> list[str]:
        return [s.name for s in scenario.services if name in s.depends_on]

    assert any(
        scenario.expect
        and scenario.expect.root_cause
        and callers(scenario, scenario.expect.root_cause.service)
        and not scenario.service(scenario.expect.root_cause.service).depends_on
        for scenario in library.values()
    )


def test_library_has_a_deploy_shortly_before_a_fault_elsewhere(
    library: dict[str, Scenario],
) -> None:
    assert any(
        isinstance(deploy, Deploy)
        and fault.target != deploy.target
        and 0 < fault.at - deploy.at <= 5 * 60
        for scenario in library.values()
        for deploy in scenario.events
        for fault in scenario.faults
    )


def test_library_uses_daily_seasonality(library: dict[str, Scenario]) -> None:
    assert any(
        service.seasonality == "daily"
        for scenario in library.values()
        for service in scenario.services
    )


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_acceptable_actions_are_never_forbidden(name: str, library: dict[str, Scenario]) -> None:
    expect = library[name].expect
    assert expect is not None
    assert expect.remediation is not None

    assert set(expect.remediation.any_of) & set(expect.remediation.forbidden) == set()


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_faults_start_after_the_detector_has_a_baseline(
    name: str, library: dict[str, Scenario]
) -> None:
    assert all(fault.at >= BASELINE_MINUTES * 60 for fault in library[name].faults)


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_expectations_name_the_faults_and_an_action_that_fixes_each(
    name: str, library: dict[str, Scenario]
) -> None:
    scenario = library[name]
    expect = scenario.expect
    assert expect is not None
    assert expect.remediation is not None

    if _is_noise_only(scenario):
        assert expect.incident is False
        assert expect.root_cause is None
        assert expect.remediation.forbidden, "noise must forbid acting on it"
        return

    first = scenario.faults[0]
    assert expect.incident is True
    assert expect.root_cause is not None
    named = (expect.root_cause.service, expect.root_cause.fault)
    if expect.root_causes:
        # several causes, judged in any order (the extension): each fault is one of them
        causes = {(c.service, c.fault) for c in expect.root_causes}
        assert named in causes
        assert {(f.target, f.kind) for f in scenario.faults} == causes
    else:
        assert named == (first.target, first.kind)
    assert expect.remediation.any_of
    assert set(expect.remediation.any_of) <= FIXES[expect.root_cause.fault]
    assert expect.detect_within is not None
    assert expect.recovered_within is not None
    if GENERATED in LIBRARY[name].read_text(encoding="utf-8"):
        # written by the generator: its expect is the oracle's, timings for ramps and several
        # causes included, and stays so
        assert expect == Expect.model_validate(judge(scenario).expect())
        return
    assert 3 * 60 <= expect.detect_within <= 5 * 60
    assert 10 * 60 <= expect.recovered_within <= 15 * 60


def test_restarting_a_protected_database_always_needs_approval(
    library: dict[str, Scenario],
) -> None:
    unattended = [
        name
        for name, scenario in library.items()
        if scenario.expect
        and scenario.expect.root_cause
        and scenario.expect.remediation
        and scenario.service(scenario.expect.root_cause.service).protected
        and set(scenario.expect.remediation.any_of) & DATABASE_RESTARTS
        and scenario.expect.remediation.approval != "required"
    ]

    assert unattended == []
