"""Scoring generated runs against the oracle's verdicts: pure, on hand-made results."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from orchestrator.bench.generated import DEVELOPMENT_SEEDS, REPORTING_SEEDS, by_class, render, score
from orchestrator.result import RootCauseResult, ScenarioResult
from services.cli import app
from services.cli_generate import parse_seeds
from services.scenario.generate import CLASSES, generate
from services.scenario.oracle import CHANGES


def result(
    executed: list[str], hypotheses: list[tuple[str, str]], downtime: float
) -> ScenarioResult:
    return ScenarioResult(
        scenario="s", passed=False, detected=True, recovered=True, downtime_cost_usd=downtime,
        executed=executed, source="x", seed=0, steps=1, wall_s=0.0,
        hypotheses=[
            RootCauseResult(service=s, fault=f, rank=i, confidence=0.5)
            for i, (s, f) in enumerate(hypotheses, start=1)
        ],
    )  # fmt: skip


def test_seed_ranges_are_disjoint_and_each_twenty_holds_every_class() -> None:
    assert not set(DEVELOPMENT_SEEDS) & set(REPORTING_SEEDS)
    assert len(CLASSES) == 20


def test_score_counts_forbidden_and_unnecessary_actions_and_ranks_every_cause() -> None:
    item = next(generate(s) for s in range(11, 2000, 20))  # concurrent-unrelated
    assert item.klass == "concurrent-unrelated"
    first, second = item.verdict.causes
    fix = sorted(first.fixes)[0].value
    harmful = sorted(item.verdict.forbidden)[0].value
    useless = sorted(CHANGES - item.verdict.needed - item.verdict.forbidden)[0].value
    ranked = [(second.service, second.fault.value), (first.service, first.fault.value)]

    executed = [fix, harmful, useless, "notify"]
    got = score(item, result(executed, ranked, 100.0), result([], [], 1100.0))

    assert got.top1 is False
    assert got.top3 is True
    assert got.all_causes_top3 is True
    assert got.forbidden == 1
    assert got.unnecessary == 1  # notify changes nothing
    assert got.avoided_usd == 1000.0
    [line, total] = by_class([got])
    assert (line.klass, total.klass, total.top3) == (item.klass, "ALL", (1, 1))
    assert item.klass in render([got])


def test_seeds_are_written_a_dash_b() -> None:
    assert parse_seeds("100000-100019") == range(100_000, 100_020)
    assert parse_seeds("7") == range(7, 8)
    for bad in ("a-b", "9-3"):
        with pytest.raises(typer.BadParameter):
            parse_seeds(bad)


@pytest.fixture(scope="module")
def seed_127() -> dict[str, object]:
    run = CliRunner().invoke(app, ["bench", "generated", "--seeds", "127-127", "--no-baseline",
                                   "--json"])  # fmt: skip
    assert run.exit_code == 0, run.output
    [line] = [json.loads(line) for line in run.stdout.splitlines()]
    return line


@pytest.mark.slow
def test_bench_generated_runs_a_seed_and_scores_it_by_its_verdict(
    seed_127: dict[str, object],
) -> None:
    assert (seed_127["seed"], seed_127["klass"]) == (127, "credential-compromise")
    assert seed_127["avoided_usd"] is None  # no baseline run
    assert seed_127["passed"] is (seed_127["failed"] == [])


@pytest.mark.slow
def test_bench_generated_in_processes_scores_each_seed_as_one_process_does(
    seed_127: dict[str, object],
) -> None:
    run = CliRunner().invoke(app, ["bench", "generated", "--seeds", "127-128", "--no-baseline",
                                   "--jobs", "2", "--json"])  # fmt: skip

    assert run.exit_code == 0, run.output
    lines = {line["seed"]: line for line in map(json.loads, run.stdout.splitlines())}
    assert sorted(lines) == [127, 128]
    assert lines[127] == seed_127
