"""Rarity scoring: causal to the bit, quiet on noise, alert on new records of three kinds."""

from __future__ import annotations

import numpy as np
import pytest

from agents import scoring
from agents.detection import ANOMALOUS, WARMUP, anomaly_scores

PERIOD = 96
"""A "day" of the synthetic periodic series."""
N = 3000


def periodic(n: int = N, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50.0 + 20.0 * np.sin(2 * np.pi * t / PERIOD) + rng.normal(0.0, 0.5, n)


def random_series(kind: str, seed: int) -> np.ndarray:
    """Series unlike each other: a random walk, bursts, a daily pattern with spikes."""
    rng = np.random.default_rng(seed)
    if kind == "walk":
        return np.cumsum(rng.normal(0.0, 1.0, N)) + 1e6
    if kind == "bursts":
        return rng.lognormal(3.0, 1.0, N)
    spiky = periodic(seed=seed)
    spiky[rng.integers(WARMUP, N, 5)] += 60.0
    return spiky


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["walk", "bursts", "spiky"])
def test_the_scores_of_a_prefix_are_the_prefix_of_the_scores(kind: str, seed: int) -> None:
    """Causality, to the bit: no point's score depends on any later point."""
    series = random_series(kind, seed)
    full = anomaly_scores(series)
    for cut in np.random.default_rng(seed).integers(1, N, 6):
        np.testing.assert_array_equal(anomaly_scores(series[:cut]), full[:cut])


def test_suppression_holds_for_its_length_then_lets_the_next_alert_through() -> None:
    scores = np.array([0.2, 0.6, 0.9, 0.8, 0.1, 0.7, 0.3])

    quiet = scoring.suppress(scores, hold=2)

    np.testing.assert_array_equal(quiet, [0.2, 0.6, 0.0, 0.0, 0.1, 0.7, 0.0])


@pytest.mark.parametrize("seed", range(5))
def test_a_steady_daily_pattern_raises_no_alert(seed: int) -> None:
    scores = anomaly_scores(periodic(seed=seed))

    assert scores[WARMUP:].max() < ANOMALOUS


@pytest.mark.parametrize("seed", range(5))
def test_a_pattern_that_changes_within_its_range_is_a_new_shape(seed: int) -> None:
    """A day that goes flat at its mean: no value is out of range, only the shape is new."""
    series = periodic(seed=seed)
    flat = slice(2000, 2000 + PERIOD)
    series[flat] = 50.0 + np.random.default_rng(seed).normal(0.0, 0.5, PERIOD)

    scores = anomaly_scores(series)

    assert scores[flat].max() >= ANOMALOUS
    assert scores[WARMUP : flat.start].max() < ANOMALOUS


def test_a_spike_alerts_when_it_beats_the_record_and_not_when_it_repeats_it() -> None:
    series = periodic()
    series[1000] += 80.0  # higher than anything before: out of range and a deviation record
    series[2000] += 80.0  # the same again: within range, no new deviation record

    scores = anomaly_scores(series)

    assert scores[1000] >= ANOMALOUS
    assert scores[1900:2100].max() < ANOMALOUS


def test_rarity_never_reaches_one() -> None:
    series = periodic()
    series[1500:] += 1000.0

    scores = scoring.rarity_scores(series)

    assert scores.max() < 1.0
    assert scores[1500] >= ANOMALOUS


@pytest.mark.parametrize("seed", range(5))
def test_a_shift_of_the_mean_is_a_level_shift_record(seed: int) -> None:
    """Two standard deviations up at point 2000: the mean of the last points leaves its past."""
    series = np.random.default_rng(seed).normal(100.0, 5.0, N)
    series[2000:] += 10.0

    ratio = scoring._shift_ratio(series, 0)

    assert ratio[2000 : 2000 + PERIOD].max() >= 1.0
    assert ratio[:2000].max() < 1.0
    assert scoring._shift_ratio(series, -1)[2000:].max() < 1.0  # a rise is no fall


def test_the_period_is_found_from_the_points_before() -> None:
    assert scoring._period(periodic(2000)) in (PERIOD - 1, PERIOD, PERIOD + 1)
    noise = np.random.default_rng(0).normal(0.0, 1.0, 2000)
    assert scoring._period(noise) == 0


@pytest.mark.parametrize("seed", range(3))
def test_a_day_unlike_the_day_before_is_a_seasonal_record(seed: int) -> None:
    """A day shifted by half a period: every value within the range, the season broken."""
    series = periodic(seed=seed)
    day = slice(2400, 2400 + PERIOD)
    series[day] = periodic(seed=seed)[day.start + PERIOD // 2 : day.stop + PERIOD // 2]

    ratio = scoring._season_ratio(series, 0)

    assert ratio[day].max() >= 1.0
    assert ratio[: day.start].max() < 1.0


@pytest.mark.parametrize("seed", range(3))
def test_a_new_extreme_must_leave_the_range_by_more_than_the_noise(seed: int) -> None:
    """Noise sets a new maximum now and then by a fraction of its step; that is not an alert."""
    rng = np.random.default_rng(seed)
    series = rng.normal(100.0, 1.0, 1000)
    series[-1] = series[:-1].max() + 0.5  # a new extreme, by half a step
    assert not scoring._out_of_range(series, 0)[-1]
    series[-1] = series[:-1].max() + 5.0  # by several steps
    assert scoring._out_of_range(series, 0)[-1]
