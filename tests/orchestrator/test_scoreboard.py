"""The scenario scoreboard: rates, medians and measured downtime avoided."""

from __future__ import annotations

from typing import Any

from orchestrator.result import RootCauseResult, ScenarioResult
from orchestrator.scoreboard import render, row, totals
from services.scenario.loader import parse_scenario

SCENARIO = parse_scenario(
    """
version: 1
name: s
duration: 10m
services: [{name: api, kind: ecs-service}, {name: db, kind: rds}]
events: [{at: 3m, kind: dependency-latency, target: db}]
expect: {root_cause: {service: db, fault: dependency-latency}}
"""
).scenario
NOISE = parse_scenario(
    "version: 1\nname: n\nduration: 10m\nservices: [{name: api, kind: ecs-service}]\n"
).scenario


def _result(**values: Any) -> ScenarioResult:
    base: dict[str, Any] = {
        "scenario": "s", "passed": True, "detected": True, "recovered": True,
        "downtime_cost_usd": 0.0, "source": "s.yaml", "seed": 0, "steps": 10, "wall_s": 1.0,
    }  # fmt: skip
    base.update(values)
    return ScenarioResult(**base)


def _hyp(service: str, fault: str, rank: int) -> RootCauseResult:
    return RootCauseResult(service=service, fault=fault, rank=rank, confidence=0.5)


def test_top1_and_top3_follow_the_rank_of_the_expected_cause() -> None:
    first = row(SCENARIO, _result(hypotheses=[_hyp("db", "dependency-latency", 1)]), _result())
    second = row(
        SCENARIO,
        _result(hypotheses=[_hyp("api", "bad-deploy", 1), _hyp("db", "dependency-latency", 2)]),
        _result(),
    )
    missing = row(SCENARIO, _result(hypotheses=[_hyp("api", "bad-deploy", 1)]), _result())
    assert (first.top1, first.top3) == (True, True)
    assert (second.top1, second.top3) == (False, True)
    assert (missing.top1, missing.top3) == (False, False)
    assert row(NOISE, _result(), _result()).top1 is None


def test_avoided_downtime_is_the_baseline_minus_the_commanded_run() -> None:
    r = row(SCENARIO, _result(downtime_cost_usd=60_000), _result(downtime_cost_usd=250_000))
    assert r.avoided_usd == 190_000


def test_totals_rate_only_scenarios_that_can_be_rated() -> None:
    rows = [
        row(SCENARIO, _result(hypotheses=[_hyp("db", "dependency-latency", 1)], ttd_s=120,
                              ttr_s=300, executed=["failover-database"]), _result()),
        row(SCENARIO, _result(passed=False, ttd_s=240, executed=["scale-out", "scale-in"],
                              forbidden_executed=["scale-in"]), _result()),
        row(NOISE, _result(detected=False), _result()),
    ]  # fmt: skip
    total = totals(rows)
    assert total.pass_rate == 2 / 3
    assert total.top1_rate == 1 / 2  # the noise scenario names no root cause
    assert total.median_ttd_s == 180
    assert total.mean_mttr_min == 5.0
    assert (total.executed, total.forbidden) == (3, 1)
    text = render(rows, total)
    assert text.splitlines()[-1].startswith("TOTAL (3 scenarios)")
    assert "67%" in text.splitlines()[-1]


def test_spend_saved_is_the_baseline_spend_minus_the_commanded_run() -> None:
    saved = row(SCENARIO, _result(spend_usd=12.5), _result(spend_usd=40.0))
    spent = row(SCENARIO, _result(spend_usd=9.0), _result(spend_usd=6.0))
    assert saved.spend_avoided_usd == 27.5
    assert spent.spend_avoided_usd == -3.0, "a scale-out costs money, and the table says so"
    assert totals([saved, spent]).spend_avoided_usd == 24.5
