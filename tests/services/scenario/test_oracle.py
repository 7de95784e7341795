"""The oracle against the spec's tables, on small hand-built estates. Pure: no emulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from services.scenario.generate import TARGET_KINDS
from services.scenario.loader import builtin_scenarios, load_scenario
from services.scenario.model import ActionKind, FaultKind, Scenario, ServiceKind
from services.scenario.oracle import CHANGES, FIXES, fixes_for, judge

A = ActionKind
LIBRARY_TESTS = Path(__file__).with_name("test_library.py")
ESTATE: list[dict[str, Any]] = [
    {"name": "web", "kind": "ecs-service", "tier": "critical", "depends_on": ["api", "jobs"]},
    {"name": "api", "kind": "ecs-service", "depends_on": ["db"],
     "baseline": {"rps": 100, "cpu": 30, "memory": 40, "latency_ms": 50, "error_rate": 0.1}},
    {"name": "jobs", "kind": "asg", "depends_on": ["safe-db"], "max_capacity": 20},
    {"name": "db", "kind": "rds"},
    {"name": "safe-db", "kind": "rds", "protected": True},
]  # fmt: skip


def scenario(*events: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(
        {"version": 1, "name": "t", "duration": "60m", "services": ESTATE, "events": list(events)}
    )


def fault(kind: str, target: str, at: str = "10m", **params: Any) -> dict[str, Any]:
    return {"at": at, "kind": kind, "target": target, "params": params}


def test_the_specs_own_example_gets_the_specs_own_expectations() -> None:
    """shared/spec/scenario-format.md's example is the library's checkout-bad-deploy."""
    example = load_scenario(builtin_scenarios()["checkout-bad-deploy"]).scenario
    written = example.expect
    assert written is not None
    assert written.remediation is not None

    expect = judge(example).expect()

    assert expect["root_cause"] == {"service": "checkout", "fault": "bad-deploy"}
    assert expect["remediation"]["any_of"] == ["rollback-deployment"]
    assert set(written.remediation.forbidden) <= set(expect["remediation"]["forbidden"])
    assert expect["remediation"]["approval"] == written.remediation.approval == "auto"


@pytest.mark.parametrize("kind", list(FaultKind))
def test_every_fault_has_a_remedy_on_every_kind_it_is_generated_on(kind: FaultKind) -> None:
    for service_kind in TARGET_KINDS[kind]:
        assert fixes_for(kind, ServiceKind(service_kind)) == FIXES[kind]


def test_fix_table_matches_the_librarys_independently_written_table() -> None:
    """tests/services/scenario/test_library.py wrote its own table before the oracle existed."""
    spec = importlib.util.spec_from_file_location("library_tests", LIBRARY_TESTS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert {k: set(v) for k, v in FIXES.items()} == module.FIXES


@pytest.mark.parametrize(
    ("event", "root", "any_of", "approval"),
    [
        (fault("bad-deploy", "api", error_rate=30), ("api", "bad-deploy"),
         ["rollback-deployment"], "auto"),
        (fault("memory-leak", "api", rate=5), ("api", "memory-leak"), ["restart-service"], "auto"),
        (fault("cpu-saturation", "jobs"), ("jobs", "cpu-saturation"), ["scale-out"], "auto"),
        (fault("connection-exhaustion", "db"), ("db", "connection-exhaustion"),
         ["failover-database", "reboot-database"], "auto"),
        (fault("connection-exhaustion", "safe-db"), ("safe-db", "connection-exhaustion"),
         ["failover-database", "reboot-database"], "required"),
        (fault("disk-full", "safe-db"), ("safe-db", "disk-full"), ["increase-storage"], None),
        (fault("security-group-exposure", "safe-db", port=5432),
         ("safe-db", "security-group-exposure"), ["revoke-ingress-rule"], None),
        (fault("instance-compromise", "safe-db"), ("safe-db", "instance-compromise"),
         ["isolate-instance"], "required"),
        (fault("credential-compromise", "web"), ("web", "credential-compromise"),
         ["deactivate-access-key"], "auto"),
    ],
)  # fmt: skip
def test_single_fault_root_cause_fix_and_approval(
    event: dict[str, Any], root: tuple[str, str], any_of: list[str], approval: str | None
) -> None:
    expect = judge(scenario(event)).expect()

    assert (expect["root_cause"]["service"], expect["root_cause"]["fault"]) == root
    assert expect["remediation"]["any_of"] == any_of
    assert expect["remediation"].get("approval") == approval
    assert not set(any_of) & set(expect["remediation"]["forbidden"])


def test_harmful_actions_are_forbidden_unless_a_fault_calls_for_them() -> None:
    verdict = judge(scenario(fault("bad-deploy", "api")))

    assert {A.SCALE_IN, A.REBOOT_DATABASE, A.ISOLATE_INSTANCE} <= verdict.forbidden
    assert A.RESTART_SERVICE not in verdict.forbidden  # useless here, not harmful


def test_cost_runaway_wants_scale_in_and_forbids_scale_out() -> None:
    verdict = judge(scenario(fault("cost-runaway", "jobs", over="5m")))

    assert verdict.causes[0].fixes == {A.SCALE_IN}
    assert A.SCALE_OUT in verdict.forbidden
    assert A.SCALE_IN not in verdict.forbidden


def test_a_harmless_deploy_before_a_fault_is_a_red_herring() -> None:
    verdict = judge(
        scenario({"at": "8m", "kind": "deploy", "target": "api"}, fault("dependency-latency", "db"))
    )

    assert A.ROLLBACK_DEPLOYMENT in verdict.forbidden
    assert verdict.expect()["root_cause"] == {"service": "db", "fault": "dependency-latency"}


def test_noise_only_expects_no_incident_and_forbids_every_change() -> None:
    verdict = judge(
        scenario(
            {"at": "8m", "kind": "deploy", "target": "api"},
            {"at": "9m", "kind": "transient-spike", "target": "jobs"},
            {"at": "9m", "kind": "flapping-alert", "target": "db"},
        )
    )

    assert verdict.expect() == {
        "incident": False,
        "remediation": {"forbidden": sorted(a.value for a in CHANGES)},
    }


def test_no_remedy_in_the_vocabulary_means_escalation_and_no_recovery_promise() -> None:
    verdict = judge(scenario(fault("cpu-saturation", "db")))
    expect = verdict.expect()

    assert verdict.escalate
    assert expect["remediation"]["any_of"] == ["escalate"]  # a page to a person
    assert "recovered_within" not in expect
    assert expect["root_cause"] == {"service": "db", "fault": "cpu-saturation"}


def test_two_faults_name_the_one_confirmed_first_and_need_both_fixes() -> None:
    verdict = judge(
        scenario(fault("disk-full", "safe-db", at="10m"), fault("bad-deploy", "api", at="12m"))
    )

    # the disk fills over 10 minutes; the bad deploy shows at once: it is confirmed first
    assert [(c.service, c.fault) for c in verdict.causes] == [
        ("api", FaultKind.BAD_DEPLOY),
        ("safe-db", FaultKind.DISK_FULL),
    ]
    assert verdict.expect()["root_cause"] == {"service": "api", "fault": "bad-deploy"}
    assert verdict.detect_within_s == 2 * 60 + 180  # from the first onset, as the spec times it
    assert verdict.recovered_within_s == 10 * 60 + 180 + 600
    assert verdict.needed == {A.INCREASE_STORAGE, A.ROLLBACK_DEPLOYMENT}
    assert verdict.approval is None  # one cause auto, one undecided: v1 cannot say both
    # v1 names one cause; the extension names both, each with what must run for it
    assert verdict.expect()["root_causes"] == [
        {"service": "api", "fault": "bad-deploy", "any_of": ["rollback-deployment"]},
        {"service": "safe-db", "fault": "disk-full", "any_of": ["increase-storage"]},
    ]


def test_one_cause_needs_no_extension() -> None:
    assert "root_causes" not in judge(scenario(fault("bad-deploy", "api"))).expect()


def test_timings_follow_the_faults_ramps() -> None:
    slow = judge(scenario(fault("connection-exhaustion", "db", over="6m")))
    leak = judge(scenario(fault("memory-leak", "api", rate=6)))  # 40 % -> 100 % in 10 steps

    assert slow.detect_within_s == 6 * 60 + 180
    assert leak.detect_within_s == 10 * 60 + 180
    assert slow.recovered_within_s == slow.detect_within_s + 600
