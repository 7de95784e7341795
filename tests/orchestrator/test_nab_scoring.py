"""NAB's scoring rules on tiny synthetic files: windows, sigmoid weights, probation, the sweeper,
the profiles and the normalisation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import pytest

from orchestrator.bench.nab_scoring import (
    START_THRESHOLD,
    CostMatrix,
    SweptFile,
    normalise,
    optimise_threshold,
    probation_length,
    scaled_sigmoid,
    score_corpus,
    score_file,
    scores_by_threshold,
    sweep_file,
)
from services.errors import BenchmarkError

# NAB's config/profiles.json.
PROFILES = {
    name: CostMatrix.from_profile({"CostMatrix": matrix})
    for name, matrix in {
        "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0},
        "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0},
        "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0},
    }.items()
}
STANDARD = PROFILES["standard"]
START = datetime(2026, 1, 1)


def _times(n: int) -> list[datetime]:
    return [START + timedelta(minutes=5 * i) for i in range(n)]


def _file(
    n: int,
    windows: list[tuple[int, int]],
    detections: Mapping[int, float] | None = None,
    *,
    probation: float = 0.0,
    name: str = "synthetic.csv",
) -> SweptFile:
    """``n`` rows, windows as inclusive row ranges, anomaly score 1.0 (or given) at detections."""
    times = _times(n)
    scores = [0.0] * n
    for row, score in (detections or {}).items():
        scores[row] = score
    limits = [(times[a], times[b]) for a, b in windows]
    return sweep_file(name, times, scores, limits, probation_percent=probation)


def _at(*rows: int) -> dict[int, float]:
    return dict.fromkeys(rows, 1.0)


def _score(swept: SweptFile, costs: CostMatrix = STANDARD) -> float:
    return score_file(swept, costs, 1.0).score


def test_scaled_sigmoid_matches_nab_reference_points() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.5) == -1.0


def test_probation_is_fifteen_percent_of_the_file_at_most_750_rows() -> None:
    assert probation_length(1000) == 150
    assert probation_length(1001) == 150  # floor
    assert probation_length(4032) == 604
    assert probation_length(22695) == 750


def test_a_missed_window_costs_fn_weight_and_silence_elsewhere_costs_nothing() -> None:
    swept = _file(100, [(40, 49), (70, 79)])
    for costs in PROFILES.values():
        assert score_file(swept, costs, 1.0).score == -2 * costs.fn_weight


def test_a_detection_on_a_windows_first_row_earns_exactly_tp_weight() -> None:
    assert _score(_file(100, [(40, 49)], _at(40))) == pytest.approx(1.0)


def test_an_early_detection_in_a_window_beats_a_late_one() -> None:
    first, middle, last = (_score(_file(100, [(40, 49)], _at(row))) for row in (40, 45, 49))
    assert first > middle > last > 0
    # Last row: relative position -1/width.
    assert last == pytest.approx(scaled_sigmoid(-1 / 10) / scaled_sigmoid(-1.0))


def test_only_the_first_detection_in_a_window_counts() -> None:
    once = score_file(_file(100, [(40, 49)], _at(42)), STANDARD, 1.0)
    thrice = score_file(_file(100, [(40, 49)], _at(42, 45, 49)), STANDARD, 1.0)
    assert thrice.score == once.score
    assert (once.tp, thrice.tp) == (1, 3)  # NAB counts rows; the score counts the window once


def test_a_detection_after_a_window_is_a_false_positive_weighted_by_that_window() -> None:
    window = (40, 49)  # right edge 49, width 10
    for row in (52, 60, 70):
        swept = _file(100, [window], _at(row))
        expected = -1.0 + STANDARD.fp_weight * scaled_sigmoid((row - 49) / (10 - 1))
        assert _score(swept) == pytest.approx(expected)
        assert score_file(swept, STANDARD, 1.0).fp == 1
    # Just past the edge costs under half of fpWeight; three window lengths past, all of it.
    assert _score(_file(100, [window], _at(50))) > -1.0 - 0.5 * STANDARD.fp_weight
    assert _score(_file(200, [window], _at(90))) == pytest.approx(-1.0 - STANDARD.fp_weight)


def test_a_false_positive_before_any_window_costs_fp_weight() -> None:
    assert _score(_file(100, [(40, 49)], _at(10))) == pytest.approx(-1.0 - STANDARD.fp_weight)


def test_detections_in_the_probationary_period_are_ignored() -> None:
    quiet = score_file(_file(100, [(40, 49)], probation=0.15), STANDARD, 1.0)
    early = score_file(_file(100, [(40, 49)], _at(3, 14), probation=0.15), STANDARD, 1.0)
    assert early.score == quiet.score == -1.0
    assert early.fp == 0
    assert early.total == 100 - 15
    # Row 15 is the first scored one.
    assert _score(_file(100, [(40, 49)], _at(15), probation=0.15)) < -1.0


def test_the_profiles_weigh_misses_and_false_alarms_as_configured() -> None:
    swept = _file(100, [(40, 49)], _at(10))  # one missed window, one false positive
    got = {name: score_file(swept, costs, 1.0).score for name, costs in PROFILES.items()}
    assert got == pytest.approx(
        {"standard": -1.11, "reward_low_FP_rate": -1.22, "reward_low_FN_rate": -2.11}
    )


def _corpus() -> list[SweptFile]:
    """Three files; window rows score 0.9 early, noise up to 0.95 elsewhere."""
    rng = np.random.default_rng(7)
    files = []
    for k, windows in enumerate([[(200, 239)], [(100, 129), (300, 329)], []]):
        scores = dict(enumerate(rng.uniform(0, 0.95, 400).round(2)))
        for a, _ in windows:
            scores[a + 2] = 0.9
        files.append(_file(400, windows, scores, probation=0.15, name=f"f{k}.csv"))
    return files


def test_the_sweep_scores_every_threshold_as_scoring_each_file_at_it_would() -> None:
    files = _corpus()
    sweep = scores_by_threshold(files, STANDARD)
    assert sweep[0].threshold == START_THRESHOLD
    assert [s.threshold for s in sweep] == sorted({s.threshold for s in sweep}, reverse=True)
    for entry in sweep:
        per_file = [score_file(f, STANDARD, entry.threshold) for f in files]
        assert entry.score == pytest.approx(sum(s.score for s in per_file), abs=1e-9)
        assert entry.fp == sum(s.fp for s in per_file)
        assert entry.tp == sum(s.tp for s in per_file)


def test_the_sweeper_picks_the_threshold_with_the_highest_corpus_total() -> None:
    files = _corpus()
    candidates = {START_THRESHOLD} | {s for f in files for s in f.anomaly_scores}
    totals = {t: sum(score_file(f, STANDARD, t).score for f in files) for t in candidates}
    best = optimise_threshold(files, STANDARD)
    assert best.score == pytest.approx(max(totals.values()), abs=1e-9)
    assert totals[best.threshold] == pytest.approx(best.score, abs=1e-9)
    result = score_corpus(files, {"standard": STANDARD})["standard"]
    assert result.threshold == best.threshold
    assert result.raw == pytest.approx(best.score, abs=1e-9)


def test_one_threshold_serves_the_whole_corpus() -> None:
    """A file alone would stay silent, but the corpus gains more elsewhere at 0.8."""
    with_window = _file(400, [(200, 239)], {200: 0.8}, probation=0.15, name="a.csv")
    noisy = _file(400, [], {300: 0.9}, probation=0.15, name="b.csv")
    result = score_corpus([with_window, noisy], {"standard": STANDARD})["standard"]
    assert result.threshold == 0.8
    assert [f.score for f in result.files] == pytest.approx([1.0, -STANDARD.fp_weight])
    assert optimise_threshold([noisy], STANDARD).threshold == START_THRESHOLD


@pytest.mark.parametrize("constant", [0.0, 0.5])
def test_a_detector_that_cannot_tell_rows_apart_scores_zero(constant: float) -> None:
    """NAB's null detector outputs 0.5 everywhere; its best threshold fires nowhere."""
    n = 400
    files = [
        sweep_file("a.csv", _times(n), [constant] * n, [(_times(n)[200], _times(n)[239])]),
        sweep_file("b.csv", _times(n), [constant] * n, []),
    ]
    for name, result in score_corpus(files, PROFILES).items():
        assert result.threshold == START_THRESHOLD, name
        assert result.normalised == 0.0, name


def test_one_detection_at_the_start_of_every_window_scores_100() -> None:
    files = [
        _file(400, [(100, 139), (250, 289)], _at(100, 250), probation=0.15, name="a.csv"),
        _file(1000, [(500, 599)], _at(500), probation=0.15, name="b.csv"),
        _file(400, [], probation=0.15, name="c.csv"),
    ]
    for name, result in score_corpus(files, PROFILES).items():
        assert result.perfect == 3 * PROFILES[name].tp_weight
        assert result.normalised == pytest.approx(100.0), name


def test_a_detector_with_only_false_alarms_scores_below_zero_when_forced() -> None:
    files = [_file(400, [(200, 239)], _at(100), probation=0.15)]
    forced = score_file(files[0], STANDARD, 1.0).score
    assert normalise(forced, -1.0, 1.0) < 0
    # ... which is why the optimiser keeps it silent.
    assert score_corpus(files, {"standard": STANDARD})["standard"].normalised == 0.0


def test_window_limits_must_be_timestamps_of_the_file() -> None:
    times = _times(10)
    with pytest.raises(BenchmarkError, match="not a timestamp"):
        sweep_file("x.csv", times, [0.0] * 10, [(times[2] + timedelta(seconds=1), times[4])])


def test_scores_outside_zero_one_are_refused() -> None:
    with pytest.raises(BenchmarkError, match=r"\[0, 1\]"):
        sweep_file("x.csv", _times(3), [0.0, math.nan, 0.2], [])


def test_a_corpus_without_windows_cannot_be_normalised() -> None:
    files = [_file(100, [])]
    with pytest.raises(BenchmarkError, match="no labelled windows"):
        _ = score_corpus(files, {"standard": STANDARD})["standard"].normalised


def test_among_equal_totals_the_sweeper_keeps_the_higher_threshold() -> None:
    """A later detection in an already detected window adds nothing: 0.9 and 0.8 tie."""
    swept = _file(400, [(200, 239)], {200: 0.9, 210: 0.8}, probation=0.15)
    sweep = scores_by_threshold([swept], STANDARD)
    assert [(s.threshold, s.score) for s in sweep[1:3]] == [
        (0.9, sweep[1].score),
        (0.8, sweep[1].score),
    ]
    assert optimise_threshold([swept], STANDARD).threshold == 0.9
