"""Rarity: how unusual is each point of a long series, judged only by what came before it?

The scorer the Numenta Anomaly Benchmark runs (through ``detection.anomaly_scores``). NAB
rewards the *first* alert in each anomaly window and charges every other alert, so the question
is not "is this point far from normal?" (a level shift stays far for hours) but "is this the
most unusual thing this series has done?". Each point is therefore scored against the
*records* of its own series, five ways:

1. **Deviation record.** A robust z-score against the median and MAD of the ``BASELINE``
   points before (spread floored at the series' mean step, so a series that moves a lot every
   point is not anomalous for moving), capped at ``Z_CAP`` and averaged over ``AVERAGE``
   points, divided by its own maximum over the ``RECORD`` points before. A ratio of 1 ties
   the series' record. A Gaussian tail likelihood (HTM's, this scorer's predecessor) assumes
   thin tails: on NAB's bursty tweet volumes it alerted once every 650 points or so; a record
   does not care about the shape of the tail.
2. **Shape record.** Blocks of ``STEP`` points are reduced to their most extreme value (so a
   spike survives the downsampling); the last ``SHAPE`` blocks form a shape, and its distance
   to the nearest earlier shape (among the ``NEIGHBOURS`` before, none overlapping it), in
   units of the series' range so far, divided by ``SHAPE_BEAT`` times the largest such
   distance seen since point ``SHAPE_LEARN``; it scores from point ``SHAPE_WARMUP``. This is
   what catches a daily pattern that changes without leaving its range (the level-based
   scores cannot), in the spirit of ARTime's windowed features and new categories.
3. **Range record.** A value beyond every value before it (Numenta's "spatial anomaly") by
   more than ``MARGIN`` of the range and more than ``NOISE_MARGIN`` times the series' recent
   median step scores ``OUT_OF_RANGE``. The second margin is the series' own noise: Gaussian
   noise sets new extremes now and then, by a fraction of its step; a real excursion leaves
   the range by many steps.
4. **Level-shift record.** The mean of the last ``SHIFT`` points against the mean of the
   ``SHIFT_BASELINE`` points before them, in units of that baseline's standard deviation
   (floored like the deviation's spread), over its maximum in the ``SHIFT_RECORD`` points
   before (at least ``SHIFT_FLOOR``). It sees a drift or a shift the 100-point deviation has
   already absorbed into its baseline.
5. **Seasonal record.** Every ``SEASON_EVERY`` points the series' period is re-estimated from
   the autocorrelation of the points before (the highest peak between ``SEASON_MIN`` and
   ``SEASON_MAX`` past the first zero crossing, if it reaches ``SEASON_ACF``); each point's
   difference from the point one period earlier is then a series of its own, scored like the
   deviation record (averaged over ``SEASON_AVERAGE`` points). A day that differs from the
   day before is caught even when every value lies inside the usual range.

The score is ``r / (r + 1)`` of the largest ratio, so ``ANOMALOUS`` (0.5) means "a new record",
and it never saturates. Once a point scores ``ANOMALOUS``, the next ``SUPPRESS`` points score 0:
the alert has been raised. Everything is causal (point ``i`` depends on points ``<= i`` only),
and one parameter set serves every series.

Cost per point: O(``BASELINE``) for each of three medians (values, seasonal differences,
steps), O(``NEIGHBOURS`` * ``SHAPE``) every ``STEP`` points for the nearest shape (one matrix
product per ``QUERIES`` shapes), O(1) for the level shift (running sums) and one FFT of
``SEASON_SPAN`` points every ``SEASON_EVERY``; the whole NAB corpus (365,558 points) scores
in 20-30 s on two busy shared cores.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from scipy.ndimage import maximum_filter1d
from scipy.stats import median_abs_deviation

ANOMALOUS = 0.5
"""The score of a point that ties its series' record."""
MIN_HISTORY = 5
"""Points before the robust z-score has a median to compare with."""
BASELINE = 100
"""Points the raw z-score is measured against."""
Z_CAP = 20.0
"""Raw z-scores above this are all equally extreme."""
AVERAGE = 10
"""Points the raw z-score is averaged over: one wild point counts less than a sustained move."""
RECORD = 3000
"""Points whose largest averaged z-score is the series' deviation record."""
DEVIATION_FLOOR = 0.1
"""An averaged z-score (over ``Z_CAP``) that is never a record: quiet noise stays quiet."""
STEP = 4
"""Points per block of the shape record."""
SHAPE = 8
"""Blocks per shape: 32 points."""
NEIGHBOURS = 3000
"""Earlier shapes a shape is compared with: bounds the cost per point."""
SHAPE_LEARN = 300
"""Points before shape distances count towards the record: the very first shapes are all new."""
SHAPE_WARMUP = 600
"""Points before a shape can score: its record must first have been set by a few hundred."""
SHAPE_FLOOR = 0.02
"""A shape distance (in units of the range) that is never a record."""
SHAPE_BEAT = 1.2
"""How many times its record a shape distance must be to score ``ANOMALOUS``: among shapes of
pure noise, the nearest-neighbour distance creeps to a new record now and then, by a little."""
MARGIN = 0.05
"""How far past its old range, in units of that range, a value must go to score (and see
``NOISE_MARGIN``)."""
OUT_OF_RANGE = 0.99
"""The score of a value outside its series' range so far."""
SUPPRESS = 100
"""Points that score 0 after an alert: one event, one alert."""
NOISE_MARGIN = 2.0
"""How far past its old range, in units of the median step of the ``BASELINE`` points before
it, a value must go to score: a noisy series' new extremes are small in its own units."""
SHIFT_RECORD = 5000
"""Points whose largest level shift is the series' level-shift record."""
SHIFT = 50
"""Points whose mean the level-shift record compares with the baseline before them."""
SHIFT_BASELINE = 500
"""Points before the ``SHIFT`` whose mean and spread are the level-shift baseline."""
SHIFT_FLOOR = 1.0
"""A level shift (in units of the baseline's spread) that is never a record."""
SEASON_EVERY = 500
"""Points between two estimates of the series' period."""
SEASON_FIRST = 1000
"""Points before the first estimate of the period."""
SEASON_SPAN = 6000
"""Points the period is estimated from (the latest ones)."""
SEASON_MIN, SEASON_MAX = 24, 2100
"""Shortest and longest period looked for."""
SEASON_ACF = 0.3
"""Autocorrelation a period needs to count."""
SEASON_AVERAGE = 30
"""Points the seasonal error's z-score is averaged over."""
SEASON_WARMUP = 1500
"""Points before the seasonal error can score."""


def rarity_scores(x: NDArray[np.float64], *, direction: int = 0) -> NDArray[np.float64]:
    """Every point's score in [0, 1) of a finite series, before suppression.

    ``direction`` +1 scores only rises, -1 only falls, 0 both; a change of shape has no
    direction, so the shape record counts only when ``direction`` is 0.
    """
    averaged = _trailing_mean(np.minimum(_baseline_z(x, direction), Z_CAP) / Z_CAP, AVERAGE)
    ratio = averaged / np.maximum(_past_max(averaged, RECORD), DEVIATION_FLOOR)
    if not direction:
        ratio = np.maximum(ratio, _shape_ratio(x))
    ratio = np.maximum(ratio, _shift_ratio(x, direction))
    ratio = np.maximum(ratio, _season_ratio(x, direction))
    scores: NDArray[np.float64] = ratio / (ratio + 1.0)
    out_of_range = _out_of_range(x, direction)
    scores[out_of_range] = np.maximum(scores[out_of_range], OUT_OF_RANGE)
    return scores


def suppress(scores: NDArray[np.float64], hold: int = SUPPRESS) -> NDArray[np.float64]:
    """Zero the ``hold`` points after each point that scores ``ANOMALOUS`` (itself unzeroed)."""
    out = scores.copy()
    quiet_until = -1
    for i in np.flatnonzero(scores >= ANOMALOUS).tolist():
        if i > quiet_until:
            quiet_until = i + hold
            out[i + 1 : quiet_until + 1] = 0.0
    return out


def _baseline_z(x: NDArray[np.float64], direction: int) -> NDArray[np.float64]:
    """Robust z of each point against the ``BASELINE`` before it; its spread is floored."""
    n = len(x)
    centre = np.zeros(n)
    spread = np.full(n, np.inf)  # no history: z is 0
    for i in range(MIN_HISTORY, min(BASELINE, n)):
        centre[i] = np.median(x[:i])
        spread[i] = median_abs_deviation(x[:i], scale="normal")
    if n > BASELINE:
        history = sliding_window_view(x, BASELINE)[: n - BASELINE]
        centre[BASELINE:] = np.median(history, axis=1)
        spread[BASELINE:] = median_abs_deviation(history, axis=1, scale="normal")
    # The mean absolute step over all the points before: the series' own typical movement.
    steps = np.abs(np.diff(x, prepend=x[:1]))
    typical = np.concatenate(([0.0], np.cumsum(steps)[:-1] / np.arange(1, n)))
    spread = np.maximum.reduce([spread, 0.02 * np.abs(centre), typical, np.full(n, 1e-9)])
    deviation = x - centre
    if direction:
        deviation = np.maximum(0.0, deviation * direction)
    z: NDArray[np.float64] = np.abs(deviation) / spread
    return z


def _trailing_mean(a: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Mean of the last ``k`` points up to and including each one."""
    sums = np.concatenate(([0.0], np.cumsum(a)))
    end = np.arange(1, len(a) + 1)
    start = np.maximum(0, end - k)
    mean: NDArray[np.float64] = (sums[end] - sums[start]) / (end - start)
    return mean


def _past_max(a: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """The largest of the ``k`` values before each one (0 before the first); ``a`` >= 0."""
    out = np.zeros(len(a))
    if len(a) > 1:
        # A window of k ending at each point: origin shifts it (k - 1) // 2 to the left.
        up_to = maximum_filter1d(a, size=k, origin=(k - 1) // 2, mode="constant", cval=0.0)
        out[1:] = up_to[:-1]
    return out


def _shape_ratio(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each completed shape's distance to its nearest earlier one, over the record distance.

    The distance is scored at the last point of the shape's last block; other points get 0.
    """
    ratio = np.zeros(len(x))
    blocks = len(x) // STEP
    if blocks < 2 * SHAPE + 1:
        return ratio
    block = x[: blocks * STEP].reshape(blocks, STEP)
    mean = block.mean(axis=1)
    high, low = block.max(axis=1), block.min(axis=1)
    # Relative to the first point, so that large levels do not cost the distances precision.
    extreme = np.where(high - mean >= mean - low, high, low) - x[0]
    shapes = sliding_window_view(extreme, SHAPE)
    ends = (np.arange(len(shapes)) + SHAPE) * STEP - 1
    span = np.maximum(np.maximum.accumulate(x)[ends] - np.minimum.accumulate(x)[ends], 1e-12)
    distance = _nearest_earlier(shapes) / span / np.sqrt(SHAPE)
    counted = np.where(ends >= SHAPE_LEARN, distance, 0.0)
    record = np.maximum(np.concatenate(([0.0], np.maximum.accumulate(counted)[:-1])), SHAPE_FLOOR)
    ratio[ends] = np.where(ends >= SHAPE_WARMUP, distance / (SHAPE_BEAT * record), 0.0)
    return ratio


QUERIES = 256
"""Shapes whose nearest neighbours are found in one matrix product."""


def _nearest_earlier(shapes: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean distance of each shape to the nearest of the ``NEIGHBOURS`` shapes before it
    that do not overlap it (0 when there is none).

    Shapes are taken ``QUERIES`` at a time in blocks aligned at 0 and padded to full size, so
    a shape's distance comes from the same arithmetic whatever follows it (causality, to the
    bit). Row ``i`` of a block may use candidate ``c`` of its slice when ``i <= c < i +
    NEIGHBOURS``: exactly the shapes ending ``SHAPE`` to ``SHAPE + NEIGHBOURS - 1`` before it.
    """
    n = len(shapes)
    front = NEIGHBOURS + SHAPE
    padded = np.zeros((front + -(-n // QUERIES) * QUERIES, SHAPE))
    padded[front : front + n] = shapes
    norms = (padded * padded).sum(axis=1)
    real = np.zeros(len(padded), dtype=bool)
    real[front : front + n] = True
    reach = np.arange(NEIGHBOURS + QUERIES - 1)[None, :] - np.arange(QUERIES)[:, None]
    in_reach = (reach >= 0) & (reach < NEIGHBOURS)
    nearest = np.zeros(n)
    for start in range(0, n, QUERIES):
        queries = slice(front + start, front + start + QUERIES)
        candidates = slice(start + 1, start + NEIGHBOURS + QUERIES)
        squared = (
            norms[queries, None]
            + norms[None, candidates]
            - 2.0 * (padded[queries] @ padded[candidates].T)
        )
        best = np.where(in_reach & real[None, candidates], squared, np.inf).min(axis=1)
        found = np.sqrt(np.maximum(np.where(np.isfinite(best), best, 0.0), 0.0))
        nearest[start : start + QUERIES] = found[: n - start]
    return nearest


def _out_of_range(x: NDArray[np.float64], direction: int) -> NDArray[np.bool_]:
    """Points more than ``MARGIN`` of the range beyond every point before them."""
    out = np.zeros(len(x), dtype=bool)
    if len(x) < 2:
        return out
    high = np.maximum.accumulate(x)[:-1]
    low = np.minimum.accumulate(x)[:-1]
    margin = np.maximum(MARGIN * (high - low), NOISE_MARGIN * _median_step(x)[1:])
    above = x[1:] > high + margin
    below = x[1:] < low - margin
    beyond = above if direction > 0 else below if direction < 0 else above | below
    out[1:] = beyond & (high > low)
    return out


def _shift_ratio(x: NDArray[np.float64], direction: int) -> NDArray[np.float64]:
    """The level-shift record: the mean of the last ``SHIFT`` points against the mean of the
    ``SHIFT_BASELINE`` before them, in units of the baseline's spread, over its record."""
    n = len(x)
    y = x - x[0]
    sums = np.concatenate(([0.0], np.cumsum(y)))
    squares = np.concatenate(([0.0], np.cumsum(y * y)))
    i = np.arange(n)
    start = np.maximum(0, i - SHIFT + 1)
    recent = (sums[i + 1] - sums[start]) / (i + 1 - start)
    first = np.maximum(0, start - SHIFT_BASELINE)
    count = np.maximum(start - first, 1)
    mean = (sums[start] - sums[first]) / count
    var = np.maximum((squares[start] - squares[first]) / count - mean * mean, 0.0)
    steps = np.abs(np.diff(x, prepend=x[:1]))
    typical = np.concatenate(([0.0], np.cumsum(steps)[:-1] / np.arange(1, n)))
    spread = np.maximum.reduce(
        [np.sqrt(var), typical, 0.02 * np.abs(mean + x[0]), np.full(n, 1e-9)]
    )
    move = recent - mean
    if direction:
        move = np.maximum(0.0, move * direction)
    z = np.where(start - first >= SHIFT, np.abs(move) / spread, 0.0)
    ratio: NDArray[np.float64] = z / np.maximum(_past_max(z, SHIFT_RECORD), SHIFT_FLOOR)
    return ratio


def _period(prefix: NDArray[np.float64]) -> int:
    """The series' period, by autocorrelation of its latest ``SEASON_SPAN`` points (0: none)."""
    y = prefix[-SEASON_SPAN:]
    n = len(y)
    top = min(SEASON_MAX, n // 2)
    y = y - y.mean()
    spectrum = np.fft.rfft(y, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    if acf[0] <= 0 or top <= SEASON_MIN:
        return 0
    acf = acf / acf[0]
    negative = np.flatnonzero(acf[:top] < 0)
    if not len(negative):
        return 0
    lo = max(SEASON_MIN, int(negative[0]))
    if lo >= top:
        return 0
    best = lo + int(np.argmax(acf[lo:top]))
    return best if acf[best] >= SEASON_ACF else 0


def _season_ratio(x: NDArray[np.float64], direction: int) -> NDArray[np.float64]:
    """The seasonal record: each point's difference from the point one period before it, as a
    series of its own, scored by the deviation record."""
    n = len(x)
    ratio = np.zeros(n)
    if n <= SEASON_WARMUP:
        return ratio
    period = np.zeros(n, dtype=int)
    for k in range(SEASON_FIRST, n, SEASON_EVERY):
        period[k : k + SEASON_EVERY] = _period(x[:k])
    if not period.any():
        return ratio
    i = np.arange(n)
    seasonal = (period > 0) & (i >= period)
    error = np.zeros(n)
    error[seasonal] = x[seasonal] - x[(i - period)[seasonal]]
    z = np.minimum(_baseline_z(error, direction), Z_CAP) / Z_CAP
    averaged = _trailing_mean(z, SEASON_AVERAGE)
    ratio = averaged / np.maximum(_past_max(averaged, RECORD), DEVIATION_FLOOR)
    ratio[~seasonal] = 0.0
    ratio[:SEASON_WARMUP] = 0.0
    return ratio


def _median_step(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The median absolute step between the ``BASELINE`` points before each point (inf before
    there are that many): the series' own noise, untouched by its rare jumps."""
    n = len(x)
    median = np.full(n, np.inf)
    if n > BASELINE:
        steps = np.abs(np.diff(x[:-1]))
        median[BASELINE:] = np.median(sliding_window_view(steps, BASELINE - 1), axis=1)
    return median
