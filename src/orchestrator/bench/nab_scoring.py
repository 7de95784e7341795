"""NAB scoring: the Numenta Anomaly Benchmark's own rules, ported from ``numenta/NAB``. Pure.

Each rule follows the NAB source (``nab/sweeper.py``, ``nab/optimizer.py``, ``nab/scorer.py``,
``nab/runner.py``, ``nab/util.py``, NAB 1.1):

- **Probation.** The first ``min(floor(0.15 * rows), 0.15 * 5000)`` rows of a file are not
  scored at all: a detection there is neither a true nor a false positive
  (``util.getProbationPeriod``, ``Sweeper._getProbationaryLength``).
- **Rows are walked in file order** (``Sweeper.calcSweepScore``). A window is entered on the row
  whose timestamp equals its start and left after the row equal to its end. A row inside a
  window at index ``i`` is worth ``tpWeight * scaledSigmoid(-(right - i + 1) / width) / maxTP``,
  so a detection on a window's first row earns exactly ``tpWeight``, and later ones less. A row
  outside every window is worth ``fpWeight * scaledSigmoid(|prevRight - i| / (prevWidth - 1))``
  after a window (a false positive just past a window costs little, one far past it
  ``-fpWeight``), and ``-fpWeight`` before the first window.
- **One detection per window** (``Sweeper.calcScoreByThreshold``). A window scores the best
  (that is, the earliest) of its detected rows, or ``-fnWeight`` when none is detected; false
  positives add up.
- **Threshold.** A row is a detection when its anomaly score is ``>=`` the threshold. For each
  profile one threshold serves the whole corpus: the sweeper walks every distinct anomaly score
  of every file from the highest down, starting above them all at 1.1, and the optimiser keeps
  the first threshold with the highest total (``optimizer.optimizeThreshold``).
- **Normalisation** (``Runner.normalize``): ``100 * (raw - null) / (perfect - null)``, where
  ``null`` is the raw score of a detector that never fires (every window missed) and
  ``perfect`` is ``tpWeight`` per labelled window (one detection on each window's first row).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.errors import BenchmarkError

PROBATION_PERCENT = 0.15
START_THRESHOLD = 1.1
"""Above every anomaly score: nothing is detected (``calcScoreByThreshold``'s start)."""
OUTSIDE = -1
"""Window index of a scored row outside every window."""
PROBATION = -2
"""Window index of a row in the probationary period, which is not scored."""


@dataclass(frozen=True, slots=True)
class CostMatrix:
    """One NAB application profile (``config/profiles.json``)."""

    tp_weight: float
    fp_weight: float
    fn_weight: float

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> CostMatrix:
        """Read ``{"CostMatrix": {"tpWeight": .., "fpWeight": .., "fnWeight": ..}}``."""
        matrix = profile["CostMatrix"]
        return cls(float(matrix["tpWeight"]), float(matrix["fpWeight"]), float(matrix["fnWeight"]))


def probation_length(rows: int, percent: float = PROBATION_PERCENT) -> float:
    """Rows ``i < probation_length(n)`` are not scored (``getProbationPeriod``)."""
    return min(math.floor(percent * rows), percent * 5000)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def scaled_sigmoid(position: float) -> float:
    """NAB's weight of a row at ``position`` relative to a window's right edge.

    -1.0 is a window's first row (0.98661), 0.0 its right edge (0.0); positive positions are
    past the edge, down to -1.0 beyond 3 window lengths.
    """
    if position > 3.0:
        return -1.0
    return 2 * sigmoid(-5 * position) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


@dataclass(frozen=True, slots=True)
class SweptFile:
    """One file's rows as NAB's sweeper sees them, before any profile's weights.

    ``window[i]`` is the index of the window row ``i`` lies in, ``OUTSIDE``, or ``PROBATION``;
    ``weight[i]`` is the row's unweighted scaled sigmoid.
    """

    name: str
    anomaly_scores: tuple[float, ...]
    window: tuple[int, ...]
    weight: tuple[float, ...]
    windows: int
    """Windows in the file's labels."""

    @property
    def scored_windows(self) -> frozenset[int]:
        """Windows with at least one row after probation: only these can be missed."""
        return frozenset(w for w in self.window if w >= 0)

    def sweep_scores(self, costs: CostMatrix) -> list[float]:
        """Each row's score if it were a detection (``calcSweepScore``'s ``sweepScore``)."""
        return [
            u * costs.tp_weight / MAX_TP if w >= 0 else u * costs.fp_weight
            for w, u in zip(self.window, self.weight, strict=True)
        ]


def sweep_file(
    name: str,
    timestamps: Sequence[datetime],
    anomaly_scores: Sequence[float],
    windows: Sequence[tuple[datetime, datetime]],
    *,
    probation_percent: float = PROBATION_PERCENT,
) -> SweptFile:
    """Walk a file's rows in order, as ``Sweeper.calcSweepScore`` does.

    Windows must be in file order and their limits must be timestamps of the file, as NAB's
    labeler requires; where a timestamp repeats, its first row counts (``list.index``).
    """
    if len(timestamps) != len(anomaly_scores):
        raise ValueError(f"{name}: {len(timestamps)} timestamps but {len(anomaly_scores)} scores")
    bad = [s for s in anomaly_scores if not 0.0 <= s <= 1.0]
    if bad:
        raise BenchmarkError(f"{name}: anomaly scores must lie in [0, 1], got {bad[0]!r}")
    first_row: dict[datetime, int] = {}
    for i, t in enumerate(timestamps):
        first_row.setdefault(t, i)
    for start, end in windows:
        for limit in (start, end):
            if limit not in first_row:
                raise BenchmarkError(f"{name}: window limit {limit} is not a timestamp of the file")
    probation = probation_length(len(timestamps), probation_percent)
    row_window: list[int] = []
    row_weight: list[float] = []
    upcoming = 0
    current: int | None = None
    right = width = 0
    prev_right: int | None = None
    prev_width = 0
    for i, t in enumerate(timestamps):
        if upcoming < len(windows) and t == windows[upcoming][0]:
            current, upcoming = upcoming, upcoming + 1
            start, end = windows[current]
            right = first_row[end]
            width = right - first_row[start] + 1
        if current is not None:
            weight = scaled_sigmoid(-(right - i + 1) / width)
        elif prev_right is None:
            weight = -1.0  # no window yet: as if far past one
        elif prev_width == 1:
            raise BenchmarkError(
                f"{name}: a one-row window followed by rows cannot be scored "
                "(NAB's sweeper divides by the window width minus one)"
            )
        else:
            weight = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1))
        row_window.append(PROBATION if i < probation else OUTSIDE if current is None else current)
        row_weight.append(weight)
        if current is not None and t == windows[current][1]:
            prev_right, prev_width, current = i, width, None
    return SweptFile(
        name, tuple(anomaly_scores), tuple(row_window), tuple(row_weight), len(windows)
    )


@dataclass(frozen=True, slots=True)
class ThresholdScore:
    """The raw score of one threshold and the row counts behind it (``ThresholdScore``)."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.tn + self.fp + self.fn


def scores_by_threshold(files: Sequence[SweptFile], costs: CostMatrix) -> list[ThresholdScore]:
    """NAB's sweep over the rows of all ``files``: one entry per distinct anomaly score.

    Entries run from ``START_THRESHOLD`` (nothing detected) down to the lowest score; each
    counts every row whose anomaly score is ``>=`` its threshold as a detection.
    """
    rows: list[tuple[float, float, tuple[int, int] | None]] = []
    window_part: dict[tuple[int, int], float] = {}
    for f, swept in enumerate(files):
        for score, sweep, w in zip(
            swept.anomaly_scores, swept.sweep_scores(costs), swept.window, strict=True
        ):
            if w == PROBATION:
                continue
            key = None if w == OUTSIDE else (f, w)
            if key is not None:
                window_part[key] = -costs.fn_weight
            rows.append((score, sweep, key))
    rows.sort(key=lambda row: row[0], reverse=True)
    fp_part = 0.0
    windows_total = sum(window_part.values())
    tp = fp = 0
    fn = sum(1 for row in rows if row[2] is not None)
    tn = len(rows) - fn
    out: list[ThresholdScore] = []
    threshold = START_THRESHOLD
    for score, sweep, key in rows:
        if score != threshold:
            out.append(ThresholdScore(threshold, fp_part + windows_total, tp, tn, fp, fn))
            threshold = score
        if key is None:
            fp, tn = fp + 1, tn - 1
            fp_part += sweep
        else:
            tp, fn = tp + 1, fn - 1
            if sweep > window_part[key]:
                windows_total += sweep - window_part[key]
                window_part[key] = sweep
    out.append(ThresholdScore(threshold, fp_part + windows_total, tp, tn, fp, fn))
    return out


def optimise_threshold(files: Sequence[SweptFile], costs: CostMatrix) -> ThresholdScore:
    """The threshold with the highest total over the corpus; ties go to the higher threshold."""
    best: ThresholdScore | None = None
    for entry in scores_by_threshold(files, costs):
        if best is None or entry.score > best.score:
            best = entry
    assert best is not None  # scores_by_threshold always yields the start threshold
    return best


def score_file(swept: SweptFile, costs: CostMatrix, threshold: float) -> ThresholdScore:
    """One file's raw score with detections at ``anomaly score >= threshold``.

    The same number ``Sweeper.scoreDataSet`` picks from the file's own sweep.
    """
    best = dict.fromkeys(swept.scored_windows, -costs.fn_weight)
    fp_part = 0.0
    tp = tn = fp = fn = 0
    for score, sweep, w in zip(
        swept.anomaly_scores, swept.sweep_scores(costs), swept.window, strict=True
    ):
        if w == PROBATION:
            continue
        detected = score >= threshold
        if w == OUTSIDE:
            fp += detected
            tn += not detected
            if detected:
                fp_part += sweep
        else:
            tp += detected
            fn += not detected
            if detected:
                best[w] = max(best[w], sweep)
    return ThresholdScore(threshold, fp_part + sum(best.values()), tp, tn, fp, fn)


def null_score(files: Sequence[SweptFile], costs: CostMatrix) -> float:
    """The raw score of a detector that never fires: every scored window is missed."""
    return -costs.fn_weight * sum(len(f.scored_windows) for f in files)


def perfect_score(files: Sequence[SweptFile], costs: CostMatrix) -> float:
    """``tpWeight`` per labelled window, as ``Runner.normalize`` counts it."""
    return costs.tp_weight * sum(f.windows for f in files)


def normalise(raw: float, null: float, perfect: float) -> float:
    """NAB's final score: 0 for the null detector, 100 for the perfect one."""
    if perfect == null:
        raise BenchmarkError("the corpus has no labelled windows: NAB scores cannot be normalised")
    return 100 * (raw - null) / (perfect - null)


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """One profile's outcome over the corpus."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    files: tuple[ThresholdScore, ...]
    """Per file, in the corpus order, at ``threshold``."""

    @property
    def normalised(self) -> float:
        return normalise(self.raw, self.null, self.perfect)


def score_corpus(
    files: Sequence[SweptFile], profiles: Mapping[str, CostMatrix]
) -> dict[str, ProfileResult]:
    """Optimise each profile's threshold over the corpus, then score every file with it.

    The raw total is the sum of the per-file scores, as ``scorer.scoreCorpus`` totals them.
    """
    results: dict[str, ProfileResult] = {}
    for name, costs in profiles.items():
        threshold = optimise_threshold(files, costs).threshold
        per_file = tuple(score_file(f, costs, threshold) for f in files)
        results[name] = ProfileResult(
            name,
            threshold,
            sum(s.score for s in per_file),
            null_score(files, costs),
            perfect_score(files, costs),
            per_file,
        )
    return results
