"""Root-cause localisation on labelled metric files: the documented layout, AS@k, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from orchestrator.bench.rca import (
    RANKINGS,
    RcaDataError,
    evaluate,
    expected_rank,
    load_labels,
    load_metrics,
)

OURS, LIVE, BASELINE = RANKINGS

START = datetime(2026, 1, 1)


def _write(folder: Path, service: str, metric: str, values: list[float]) -> None:
    (folder / service).mkdir(parents=True, exist_ok=True)
    lines = ["timestamp,value"] + [
        f"{(START + timedelta(minutes=i)).isoformat()},{v}" for i, v in enumerate(values)
    ]
    (folder / service / f"{metric}.csv").write_text("\n".join(lines) + "\n")


def _series(
    rng: np.random.Generator, level: float, shift_at: int | None, factor: float
) -> list[float]:
    values = level * (1 + 0.02 * rng.standard_normal(120))
    if shift_at is not None:
        values[shift_at:] *= factor
    return [float(v) for v in values]


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    """web -> api -> db; the database slows at minute 80, its callers one and two minutes later."""
    rng = np.random.default_rng(3)
    metrics = tmp_path / "metrics"
    _write(metrics, "db", "latency", _series(rng, 4, 80, 6))
    _write(metrics, "api", "latency", _series(rng, 90, 81, 3))
    _write(metrics, "web", "latency", _series(rng, 120, 82, 2.5))
    _write(metrics, "cache", "latency", _series(rng, 2, None, 1))
    labels = tmp_path / "labels.json"
    labels.write_text(
        json.dumps([{"time": (START + timedelta(minutes=80)).isoformat(), "service": "db"}])
    )
    return metrics, labels, [("web", "api"), ("api", "db")]


def test_the_slow_database_ranks_first(dataset: tuple[Path, Path, list[tuple[str, str]]]) -> None:
    metrics_dir, labels_file, edges = dataset
    metrics = load_metrics(metrics_dir)
    reports = evaluate(metrics, load_labels(labels_file, list(metrics)), edges)

    for name in (OURS, LIVE):
        assert [c.rank for c in reports[name].cases] == [1]
        assert reports[name].accuracy_at(1) == reports[name].accuracy_at(3) == 1.0


def test_without_the_dependency_graph_precedence_alone_still_finds_it(
    dataset: tuple[Path, Path, list[tuple[str, str]]],
) -> None:
    metrics_dir, labels_file, _ = dataset
    metrics = load_metrics(metrics_dir)
    report = evaluate(metrics, load_labels(labels_file, list(metrics)))[OURS]
    assert report.cases[0].rank is not None
    assert report.accuracy_at(5) == 1.0


def test_bad_input_is_named(
    tmp_path: Path, dataset: tuple[Path, Path, list[tuple[str, str]]]
) -> None:
    metrics_dir, _, _ = dataset
    with pytest.raises(RcaDataError, match="no such metrics folder"):
        load_metrics(tmp_path / "missing")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"time": "2026-01-01T01:20:00", "service": "queue"}]))
    with pytest.raises(RcaDataError, match="no metrics: queue"):
        load_labels(bad, list(load_metrics(metrics_dir)))
    (metrics_dir / "db" / "broken.csv").write_text("time,v\nx,1\n")
    with pytest.raises(RcaDataError, match=r"broken.csv:2: expected timestamp,value"):
        load_metrics(metrics_dir)


def test_labels_in_epoch_seconds_are_read_as_utc(
    tmp_path: Path, dataset: tuple[Path, Path, list[tuple[str, str]]]
) -> None:
    metrics_dir, _, edges = dataset
    epoch = tmp_path / "epoch.json"
    at = (START + timedelta(minutes=80)).replace(tzinfo=UTC).timestamp()
    epoch.write_text(json.dumps([{"time": int(at), "service": "db"}]))
    metrics = load_metrics(metrics_dir)
    report = evaluate(metrics, load_labels(epoch, list(metrics)), edges)[OURS]
    assert [c.rank for c in report.cases] == [1]


def test_series_sampled_at_other_periods_and_starts_are_compared_at_the_same_instants(
    tmp_path: Path,
) -> None:
    """api is sampled every 30 s from minute 10, db every minute from 0: db slows at minute 80
    and api at 81. Cut by index from each series' own start, api's 30 s samples would put its
    onset far from db's; on one time grid db comes first."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "metrics"
    _write(folder, "db", "latency", _series(rng, 4, 80, 6))
    api = _series(rng, 90, None, 1) + _series(rng, 90, None, 1)
    for i in range(len(api)):
        if i >= 142:  # minute 10 + 71 minutes at 30 s
            api[i] *= 3
    (folder / "api").mkdir()
    lines = ["timestamp,value"] + [
        f"{(START + timedelta(minutes=10, seconds=30 * i)).isoformat()},{v}"
        for i, v in enumerate(api)
    ]
    (folder / "api" / "latency.csv").write_text("\n".join(lines) + "\n")
    labels = tmp_path / "labels.json"
    labels.write_text(
        json.dumps([{"time": (START + timedelta(minutes=80)).isoformat(), "service": "db"}])
    )
    metrics = load_metrics(folder)
    report = evaluate(metrics, load_labels(labels, list(metrics)), [("api", "db")])[OURS]
    assert [c.rank for c in report.cases] == [1]


def test_a_tie_counts_at_its_expected_place_not_by_name() -> None:
    """Three services at the same top score: each is at place 2 on average, so the true one
    is not a hit at 1 because its name sorts first."""
    scores = [("a", 2.0), ("b", 2.0), ("c", 2.0), ("d", 0.5), ("e", 0.0)]
    assert expected_rank(scores, "a") == 2.0
    assert expected_rank(scores, "d") == 4.0
    assert expected_rank(scores, "e") is None


def test_a_fault_free_reference_is_the_normal_an_earlier_fault_does_not_skew(
    tmp_path: Path,
) -> None:
    """db had an earlier fault in the hour before this one (minutes 25 to 50 of the hour before it):
    against that hour, its new slowdown looks ordinary and its caller's milder one ranks first;
    against a fault-free reference period, db is first."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "metrics"
    db = _series(rng, 4, 110, 3)
    for i in range(75, 100):
        db[i] *= 6
    _write(folder, "db", "latency", db)
    _write(folder, "api", "latency", _series(rng, 90, 111, 1.3))
    labels = tmp_path / "labels.json"
    labels.write_text(
        json.dumps([{"time": (START + timedelta(minutes=110)).isoformat(), "service": "db"}])
    )
    metrics = load_metrics(folder)
    faults = load_labels(labels, list(metrics))
    quiet = {
        service: {"latency": ([START - timedelta(days=1, minutes=-i) for i in range(360)],
                              _series(np.random.default_rng(9), level, None, 1) * 3)}
        for service, level in (("db", 4.0), ("api", 90.0))
    }  # fmt: skip
    without = evaluate(metrics, faults, [("api", "db")])[OURS]
    with_reference = evaluate(metrics, faults, [("api", "db")], reference=quiet)[OURS]
    assert [c.rank for c in without.cases] == [2]
    assert [c.rank for c in with_reference.cases] == [1]
