"""Judging a run against a scenario's expectations: each broken expectation is named."""

from __future__ import annotations

from orchestrator.result import Outcome, RootCauseResult, failed_expectations
from services.scenario.model import Expect


def _cause(service: str, fault: str) -> RootCauseResult:
    return RootCauseResult(service=service, fault=fault, rank=1, confidence=0.9)


def _outcome(**changes: object) -> Outcome:
    base: dict[str, object] = {
        "detected": True,
        "ttd_s": 120,
        "root_cause": _cause("checkout", "bad-deploy"),
        "causes": [_cause("checkout", "bad-deploy")],
        "executed": ["rollback-deployment"],
        "approval_requested": False,
        "recovered": True,
        "ttr_s": 300,
        "has_faults": True,
    }
    base.update(changes)
    return Outcome(**base)  # type: ignore[arg-type]


EXPECT = Expect.model_validate(
    {
        "incident": True,
        "detect_within": "3m",
        "root_cause": {"service": "checkout", "fault": "bad-deploy"},
        "remediation": {
            "any_of": ["rollback-deployment"],
            "forbidden": ["scale-in"],
            "approval": "auto",
        },
        "recovered_within": "12m",
    }
)


def test_a_run_that_meets_every_expectation_passes() -> None:
    assert failed_expectations(EXPECT, _outcome()) == []


def test_no_expectations_means_nothing_can_fail() -> None:
    assert failed_expectations(None, _outcome(detected=False)) == []


def test_each_broken_expectation_is_reported_by_name() -> None:
    failed = failed_expectations(
        EXPECT,
        _outcome(
            ttd_s=400,
            root_cause=RootCauseResult(service="catalog", fault="deploy", rank=1, confidence=0.5),
            executed=["scale-in"],
            approval_requested=True,
            ttr_s=900,
        ),
    )
    fields = [line.split(":", 1)[0] for line in failed]
    assert fields == [
        "detect_within",
        "root_cause",
        "remediation.any_of",
        "remediation.forbidden",
        "remediation.approval",
        "recovered_within",
    ]
    assert "named catalog/deploy, expected checkout/bad-deploy" in failed[1]


def test_an_undetected_incident_fails_incident_and_detection() -> None:
    failed = failed_expectations(
        EXPECT, _outcome(detected=False, ttd_s=None, root_cause=None, executed=[])
    )
    assert failed[0] == "incident: expected an incident, none was opened"
    assert "detect_within: not detected" in failed


def test_noise_only_scenarios_fail_when_anything_is_executed() -> None:
    noise = Expect.model_validate({"incident": False})
    assert failed_expectations(noise, _outcome(detected=False, executed=[])) == []
    failed = failed_expectations(noise, _outcome(executed=["restart-service"]))
    assert failed == ["incident: noise only, yet actions were executed (restart-service)"]


def test_required_approval_must_be_asked() -> None:
    expect = Expect.model_validate({"remediation": {"approval": "required"}})
    assert failed_expectations(expect, _outcome(approval_requested=True)) == []
    assert failed_expectations(expect, _outcome()) == [
        "remediation.approval: required, but no approval was asked"
    ]


def test_unrecovered_runs_fail_recovered_within() -> None:
    failed = failed_expectations(EXPECT, _outcome(recovered=False, ttr_s=None))
    assert failed == ["recovered_within: not recovered by the end of the run"]


TWO_CAUSES = Expect.model_validate(
    {
        "incident": True,
        "root_cause": {"service": "orders-db", "fault": "connection-exhaustion"},
        "root_causes": [
            {
                "service": "orders-db",
                "fault": "connection-exhaustion",
                "any_of": ["reboot-database"],
            },
            {"service": "search-db", "fault": "disk-full", "any_of": ["increase-storage"]},
        ],
    }
)


def test_several_causes_pass_in_whichever_order_the_incidents_confirmed_them() -> None:
    # The disk was confirmed first: v1 would fail root_cause; the extension judges the set.
    causes = [_cause("search-db", "disk-full"), _cause("orders-db", "connection-exhaustion")]
    run = _outcome(
        root_cause=causes[0], causes=causes, executed=["increase-storage", "reboot-database"]
    )
    assert failed_expectations(TWO_CAUSES, run) == []


def test_a_cause_no_incident_named_and_a_cause_left_unaddressed_are_each_reported() -> None:
    causes = [_cause("orders-db", "connection-exhaustion")]
    run = _outcome(root_cause=causes[0], causes=causes, executed=["increase-storage"])
    failed = failed_expectations(TWO_CAUSES, run)
    assert failed == [
        "root_causes[0].any_of: none of reboot-database was executed "
        "(for orders-db/connection-exhaustion)",
        "root_causes[1]: search-db/disk-full is no confirmed incident's top cause "
        "(named: orders-db/connection-exhaustion)",
    ]


def test_without_root_causes_root_cause_is_still_the_first_incident_s() -> None:
    causes = [_cause("search-db", "disk-full"), _cause("checkout", "bad-deploy")]
    failed = failed_expectations(EXPECT, _outcome(root_cause=causes[0], causes=causes))
    assert failed == ["root_cause: named search-db/disk-full, expected checkout/bad-deploy"]
