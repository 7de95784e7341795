"""The Numenta Anomaly Benchmark: the detection agent's scorer over NAB's corpus, scored by NAB.

The data folder has NAB's repository layout::

    data/<category>/<file>.csv       timestamp,value
    labels/combined_windows.json     {"<category>/<file>.csv": [[start, end], ...], ...}
    config/profiles.json             {"standard": {"CostMatrix": {...}}, ...}
    results/final_results.json       published normalised scores, {detector: {profile: score}}

Every labelled file is run through ``agents.detection.anomaly_scores`` as it is (no tuning per
file), written in NAB's results format, and scored with NAB's rules (``nab_scoring``). This
module does the I/O; the scoring is pure.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.detection import anomaly_scores
from orchestrator.bench.nab_scoring import (
    CostMatrix,
    ProfileResult,
    SweptFile,
    score_corpus,
    sweep_file,
)
from services.errors import BenchmarkError

DETECTOR = "incidentCommander"
"""Our name in NAB's tables; NAB's detector names have no underscore."""
DATA_RELATIVE = Path("..", "shared", "data", "nab")
"""Where the corpus is looked for, from the current folder and then from the repository."""
REPOSITORY = Path(__file__).resolve().parents[3]
SCORE_COLUMNS = (
    *("Detector", "Profile", "File", "Threshold", "Score"),
    *("TP", "TN", "FP", "FN", "Total_Count"),
)
"""The columns of NAB's ``<detector>_<profile>_scores.csv``."""

Detector = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def data_dir_candidates(cwd: Path | None = None) -> list[Path]:
    """The default data folders, in the order they are tried."""
    return [(cwd or Path.cwd()) / DATA_RELATIVE, REPOSITORY / DATA_RELATIVE]


def resolve_data_dir(explicit: Path | None = None, *, cwd: Path | None = None) -> Path:
    """The folder given, or the first default holding NAB's labels; a clear error otherwise."""
    tried = [explicit] if explicit is not None else data_dir_candidates(cwd)
    for folder in tried:
        if (folder / "labels" / "combined_windows.json").is_file():
            return folder.resolve()
    shown = ", ".join(str(f) for f in tried)
    raise BenchmarkError(
        f"NAB corpus not found (looked for labels/combined_windows.json in: {shown}); "
        "pass --data with a folder in NAB's layout (data/, labels/, config/, results/)"
    )


@dataclass(frozen=True, slots=True)
class DataFile:
    """One corpus file with its windows. Text columns are kept as read, to be written back."""

    relative: str
    """``<category>/<file>.csv``, the key of the labels file."""
    timestamp_text: tuple[str, ...]
    value_text: tuple[str, ...]
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    windows: tuple[tuple[datetime, datetime], ...]

    def labels(self) -> list[int]:
        """1 for rows inside a window, as NAB's labeler marks them (``t1 <= t <= t2``)."""
        return [int(any(a <= t <= b for a, b in self.windows)) for t in self.timestamps]


@dataclass(frozen=True, slots=True)
class Corpus:
    root: Path
    files: tuple[DataFile, ...]
    profiles: dict[str, CostMatrix]
    published: dict[str, dict[str, float]]


def load_corpus(root: Path) -> Corpus:
    """Read every labelled file, the windows, the profiles and the published scores."""
    raw_windows = _read_json(root / "labels" / "combined_windows.json")
    raw_profiles = _read_json(root / "config" / "profiles.json")
    raw_published = _read_json(root / "results" / "final_results.json")
    try:
        profiles = {name: CostMatrix.from_profile(p) for name, p in raw_profiles.items()}
        published = {
            str(d): {str(p): float(s) for p, s in scores.items()}
            for d, scores in raw_published.items()
        }
        windows = {
            str(rel): tuple((_parse_time(a), _parse_time(b)) for a, b in limits)
            for rel, limits in raw_windows.items()
        }
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(
            f"{root}: profiles, windows or published results malformed: {exc}"
        ) from exc
    files = tuple(_read_data(root / "data", rel, windows[rel]) for rel in sorted(windows))
    if not files:
        raise BenchmarkError(f"{root}: labels/combined_windows.json lists no files")
    return Corpus(root, files, profiles, published)


@dataclass(frozen=True, slots=True)
class NabReport:
    """Our scores beside the published ones."""

    detector: str
    data_dir: Path
    results_dir: Path
    files: int
    rows: int
    detect_s: float
    profiles: dict[str, ProfileResult]
    published: dict[str, dict[str, float]]

    def scores(self) -> dict[str, float]:
        return {name: r.normalised for name, r in self.profiles.items()}

    def table(self) -> list[tuple[str, dict[str, float], bool]]:
        """(detector, scores, is this run) for every detector, best standard score first."""
        rows = [(d, s, False) for d, s in self.published.items() if d != self.detector]
        rows.append((self.detector, self.scores(), True))
        key = "standard" if "standard" in self.profiles else next(iter(self.profiles))
        return sorted(rows, key=lambda row: row[1].get(key, float("-inf")), reverse=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "data": str(self.data_dir),
            "results": str(self.results_dir),
            "files": self.files,
            "rows": self.rows,
            "detect_s": round(self.detect_s, 3),
            "scores": self.scores(),
            "thresholds": {n: r.threshold for n, r in self.profiles.items()},
            "raw": {n: r.raw for n, r in self.profiles.items()},
            "null": {n: r.null for n, r in self.profiles.items()},
            "perfect": {n: r.perfect for n, r in self.profiles.items()},
            "table": [
                {"detector": d, "this_run": ours, **scores} for d, scores, ours in self.table()
            ],
        }


def run_nab(
    data_dir: Path,
    out_dir: Path,
    *,
    detector: Detector = anomaly_scores,
    detector_name: str = DETECTOR,
) -> NabReport:
    """Detect on every file, write NAB's results files, and score the corpus."""
    corpus = load_corpus(data_dir)
    swept: list[SweptFile] = []
    detect_s = 0.0
    results_dir = out_dir / detector_name
    for item in corpus.files:
        started = time.perf_counter()
        scores = [float(s) for s in detector(np.asarray(item.values, dtype=float))]
        detect_s += time.perf_counter() - started
        if len(scores) != len(item.values):
            raise BenchmarkError(f"{item.relative}: the detector returned {len(scores)} scores")
        write_results(results_dir, detector_name, item, scores)
        swept.append(sweep_file(item.relative, item.timestamps, scores, item.windows))
    profiles = score_corpus(swept, corpus.profiles)
    write_score_tables(results_dir, detector_name, [f.relative for f in corpus.files], profiles)
    return NabReport(
        detector_name,
        corpus.root,
        results_dir,
        len(corpus.files),
        sum(len(f.values) for f in corpus.files),
        detect_s,
        profiles,
        corpus.published,
    )


def results_path(results_dir: Path, detector_name: str, relative: str) -> Path:
    """NAB's ``<detector>/<category>/<detector>_<file>.csv``."""
    category, name = relative.rsplit("/", 1) if "/" in relative else ("", relative)
    return results_dir / category / f"{detector_name}_{name}"


def write_results(
    results_dir: Path, detector_name: str, item: DataFile, scores: Sequence[float]
) -> Path:
    """One results file: ``timestamp,value,anomaly_score,label``, as NAB's detectors write."""
    path = results_path(results_dir, detector_name, item.relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        writer.writerows(
            zip(item.timestamp_text, item.value_text, map(repr, scores), item.labels(), strict=True)
        )
    return path


def write_score_tables(
    results_dir: Path,
    detector_name: str,
    relatives: Sequence[str],
    profiles: Mapping[str, ProfileResult],
) -> None:
    """NAB's ``<detector>_<profile>_scores.csv``: one row per file, then the totals."""
    for name, result in profiles.items():
        path = results_dir / f"{detector_name}_{name}_scores.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(SCORE_COLUMNS)
            for relative, s in zip(relatives, result.files, strict=True):
                row = (detector_name, name, relative, s.threshold, s.score)
                writer.writerow((*row, s.tp, s.tn, s.fp, s.fn, s.total))
            counts = [sum(getattr(s, c) for s in result.files) for c in ("tp", "tn", "fp", "fn")]
            writer.writerow(["Totals", "", "", "", result.raw, *counts, sum(counts)])


def render(report: NabReport) -> str:
    """The published table with our row marked, then our thresholds and the results folder."""
    names = list(report.profiles)
    width = max(len(d) for d, _, _ in report.table()) + 2
    head = f"  {'detector':{width}}" + "".join(f"{n:>20}" for n in names)
    lines = [
        f"NAB, normalised (null detector 0, perfect 100): {report.files} files, "
        f"{report.rows:,} rows, detection {report.detect_s:.1f}s",
        head,
    ]
    for detector, scores, ours in report.table():
        cells = "".join(f"{scores[n]:>20.2f}" if n in scores else f"{'-':>20}" for n in names)
        mark = "  <- this run" if ours else ""
        lines.append(f"{'>' if ours else ' '} {detector:{width}}{cells}{mark}")
    thresholds = ", ".join(f"{n} {r.threshold:.6g}" for n, r in report.profiles.items())
    lines.append(f"thresholds (optimised over the corpus): {thresholds}")
    lines.append(f"results: {report.results_dir}")
    return "\n".join(lines)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{path}: cannot read NAB file: {exc}") from exc
    if not isinstance(loaded, dict):
        raise BenchmarkError(f"{path}: expected a JSON object")
    return loaded


def _read_data(
    folder: Path, relative: str, windows: Sequence[tuple[datetime, datetime]]
) -> DataFile:
    path = folder / relative
    stamps: list[str] = []
    texts: list[str] = []
    times: list[datetime] = []
    values: list[float] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, record in enumerate(csv.DictReader(handle), start=2):
                try:
                    times.append(_parse_time(record["timestamp"]))
                    values.append(float(record["value"]))
                except (KeyError, TypeError, ValueError) as exc:
                    problem = f"{path}:{line}: expected timestamp,value ({exc})"
                    raise BenchmarkError(problem) from exc
                stamps.append(record["timestamp"])
                texts.append(record["value"])
    except OSError as exc:
        raise BenchmarkError(
            f"{path}: labelled in combined_windows.json but unreadable: {exc}"
        ) from exc
    return DataFile(
        relative, tuple(stamps), tuple(texts), tuple(times), tuple(values), tuple(windows)
    )


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())
