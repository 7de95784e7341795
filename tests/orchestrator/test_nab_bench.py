"""``incident-commander bench nab`` on three real NAB files, in NAB's layout, as a user runs it."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents.detection import anomaly_scores
from conftest import skip_or_fail
from orchestrator.bench.nab import data_dir_candidates, resolve_data_dir
from services.cli import app
from services.errors import BenchmarkError

# Small files (4032 rows each): one with a window, one without, one real with two windows.
SUBSET = (
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "artificialNoAnomaly/art_daily_no_noise.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
)
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
runner = CliRunner()
Run = tuple[Path, dict[str, Any]]
"""The results folder and the ``--json`` report of one run on the subset."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SUBSET, its windows, the profiles and the published table, in NAB's layout."""
    try:
        shared = resolve_data_dir()
    except BenchmarkError as exc:
        skip_or_fail(str(exc))
    root = tmp_path_factory.mktemp("nab")
    for relative in SUBSET:
        (root / "data" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared / "data" / relative, root / "data" / relative)
    windows = json.loads((shared / "labels" / "combined_windows.json").read_text())
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(
        json.dumps({relative: windows[relative] for relative in SUBSET})
    )
    for relative in ("config/profiles.json", "results/final_results.json"):
        (root / relative).parent.mkdir()
        shutil.copy(shared / relative, root / relative)
    return root


@pytest.fixture(scope="module")
def run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("results")
    result = runner.invoke(
        app, ["bench", "nab", "--data", str(corpus), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(result.output)


def test_results_files_are_written_in_nabs_layout(corpus: Path, run: Run) -> None:
    out, _ = run
    windows = json.loads((corpus / "labels" / "combined_windows.json").read_text())
    for relative in SUBSET:
        category, name = relative.split("/")
        path = out / "incidentCommander" / category / f"incidentCommander_{name}"
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        with (corpus / "data" / relative).open(newline="") as handle:
            data = list(csv.DictReader(handle))
        assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
        assert [(r["timestamp"], r["value"]) for r in rows] == [
            (d["timestamp"], d["value"]) for d in data
        ]
        inside = sum(
            any(a[:19] <= d["timestamp"] <= b[:19] for a, b in windows[relative]) for d in data
        )
        assert sum(int(r["label"]) for r in rows) == inside
        assert (inside > 0) == bool(windows[relative])
    for profile in PROFILES:
        assert (out / "incidentCommander" / f"incidentCommander_{profile}_scores.csv").is_file()


def test_results_hold_the_detection_agents_scores(corpus: Path, run: Run) -> None:
    out, _ = run
    relative = SUBSET[2]
    category, name = relative.split("/")
    with (out / "incidentCommander" / category / f"incidentCommander_{name}").open() as handle:
        rows = list(csv.DictReader(handle))
    expected = anomaly_scores([float(r["value"]) for r in rows])
    assert [float(r["anomaly_score"]) for r in rows] == expected.tolist()


def test_json_reports_finite_scores_beside_the_published_table(
    run: Run,
) -> None:
    _, report = run
    assert report["files"] == 3
    assert report["rows"] == 3 * 4032
    scores, thresholds, table = report["scores"], report["thresholds"], report["table"]
    assert set(scores) == set(thresholds) == set(PROFILES)
    assert all(math.isfinite(s) and s <= 100 for s in scores.values())
    ours = [row for row in table if row["this_run"]]
    assert [row["detector"] for row in ours] == ["incidentCommander"]
    assert {"numenta", "ARTime", "null"} <= {row["detector"] for row in table}
    standard = [row["standard"] for row in table]
    assert standard == sorted(standard, reverse=True)
    null = next(row for row in table if row["detector"] == "null")
    assert all(null[p] == 0.0 for p in PROFILES)


def test_text_output_marks_our_row_in_the_published_table(corpus: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "nab", "--data", str(corpus), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    ours = [line for line in lines if "incidentCommander" in line and "this run" in line]
    assert len(ours) == 1
    assert ours[0].startswith(">")
    assert any(line.lstrip().startswith("numenta ") for line in lines)
    assert "thresholds" in result.output
    cells = ours[0].split()[2:5]
    assert all(math.isfinite(float(c)) for c in cells)


def test_the_default_corpus_is_looked_for_from_here_then_from_the_repository(
    tmp_path: Path,
) -> None:
    here = tmp_path / "work" / "main"
    here.mkdir(parents=True)
    repository_default = data_dir_candidates(here)[1]
    if not (repository_default / "labels" / "combined_windows.json").is_file():
        skip_or_fail(f"no NAB corpus at {repository_default}")
    assert resolve_data_dir(cwd=here) == repository_default.resolve()
    beside = tmp_path / "work" / "shared" / "data" / "nab"
    (beside / "labels").mkdir(parents=True)
    (beside / "labels" / "combined_windows.json").write_text("{}")
    assert resolve_data_dir(cwd=here) == beside.resolve()


def test_a_missing_corpus_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-c", "from services.cli import main; main()", "bench", "nab"),
            *("--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "NAB corpus not found" in result.stderr
    assert str(tmp_path / "nowhere") in result.stderr
