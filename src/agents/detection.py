"""Detection: is something really wrong, how badly, and where? Closes noise.

Two scores, one per question.

**Is this point out of line?** (``score_at``, used by ``find_anomalies``, ``assess`` and the
fleet scan.) Each point is compared with the median and the MAD (median absolute deviation,
scaled to a normal sigma) of the ``window`` points before it, never after. The score is a
logistic of the robust z-score, in [0, 1]: a level shift scores high for as long as it lasts,
which is what ``persistence`` needs to confirm an incident.

**Is this point rare for this series?** (``anomaly_scores``, the per-series scorer that root-cause
ranking and the Numenta Anomaly Benchmark run.) A raw z-score alone cannot answer it: a step on
a flat series drives it to the ceiling for many points, so a threshold cannot tell the onset from
its aftermath, and a noisy series is always "anomalous". So once a series has ``warmup`` points
of history, a point is scored against the records of its own series (``agents.scoring``): its
deviation, the shape of its last few dozen points, and its value, each compared with the most
extreme the series has shown before; 0.5 means a new record, and the points after an alert
score 0. Before ``warmup`` points there are no records worth beating, and the score is the
robust one of ``score_at``, so short live series are scored exactly as before. All of it is
causal (point ``i`` depends on points ``<= i`` only).

An incident is confirmed when an SLO or saturation metric stays anomalous for ``persistence``
consecutive points. It is closed as noise when the metrics are back to normal by then (a
transient spike), or when an alarm flaps while its metric never leaves its band; the verdict
names the metrics of the alerted services and where they stand (``noise_reason``), so a person
reading the incident list can check it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import kendalltau, median_abs_deviation, norm, theilslopes
from scipy.stats import t as student_t

from agents import scoring
from agents.model import AgentName, Candidate, Severity, Stance, Vote, vote

WINDOW = 30
MIN_HISTORY = scoring.MIN_HISTORY
Z_MIDPOINT = 4.0
"""Robust z-score that scores 0.5."""
ANOMALOUS = scoring.ANOMALOUS

WARMUP = 150
"""Points of history before ``anomaly_scores`` turns from the robust score to the records."""

# Which direction is bad for each metric role.
BAD_DIRECTION: dict[str, int] = {
    "latency": 1,
    "errors": 1,
    "cpu": 1,
    "memory": 1,
    "connections": 1,
    "throttles": 1,
    "free_storage": -1,
    "capacity": 1,
    "requests": 1,
    "write_latency": 1,
    "concurrency": 1,
}

MATERIAL: dict[str, float] = {"errors": 1.0, "throttles": 5.0}
"""Metrics that sit near zero, and the least rise above their baseline that is harm: an error
rate in percentage points, throttled calls in calls. Near zero a z-score measures the noise of
a few failed requests (0.2 % to 0.35 % of checkout's requests is no incident), and verification
calls a service back when it is within this much (``orchestrator.nodes.act``): detection must
not confirm what verification would call recovered."""


def anomaly_scores(
    values: Sequence[float] | NDArray[np.float64],
    *,
    window: int = WINDOW,
    min_history: int = MIN_HISTORY,
    direction: int = 0,
    warmup: int = WARMUP,
) -> NDArray[np.float64]:
    """Per-point anomaly score in [0, 1]; point ``i`` uses only points ``< i`` and itself.

    ``direction`` +1 scores only rises, -1 only falls, 0 both. The first ``warmup`` finite
    points get ``score_at``'s robust score (over ``window`` points); later ones their rarity
    (``scoring.rarity_scores``), with the points after each alert suppressed. Missing
    (non-finite) points score 0 and are skipped.
    """
    x = np.asarray(values, dtype=float)
    scores = np.zeros(len(x))
    finite = np.flatnonzero(np.isfinite(x))
    early, late = finite[:warmup], finite[warmup:]
    for i in early:
        scores[i] = score_at(x, i, window=window, min_history=min_history, direction=direction)
    if len(late):
        rarity = scoring.rarity_scores(x[finite], direction=direction)
        scores[late] = scoring.suppress(rarity[warmup:])
    return scores


def score_at(
    x: NDArray[np.float64],
    i: int,
    *,
    window: int = WINDOW,
    min_history: int = MIN_HISTORY,
    direction: int = 0,
) -> float:
    """The anomaly score of point ``i`` of ``x`` against the ``window`` points before it."""
    history = x[max(0, i - window) : i]
    history = history[np.isfinite(history)]
    if len(history) < min_history or not np.isfinite(x[i]):
        return 0.0
    centre = float(np.median(history))
    spread = float(median_abs_deviation(history, scale="normal"))
    # A flat history has no spread: fall back to 2 % of its level, then to a tiny floor. A
    # count reported in whole units (concurrent executions, connections) cannot move by less
    # than one: between 4 and 5 its noise has no spread, yet one unit is not an anomaly.
    resolution = 1.0 if bool(np.all(history == np.round(history))) else 0.0
    spread = max(spread, 0.02 * abs(centre), resolution, 1e-9)
    deviation = float(x[i]) - centre
    if direction:
        deviation = max(0.0, deviation * direction)
    z = abs(deviation) / spread / _few_points(len(history))
    return 1.0 / (1.0 + math.exp(-(z - Z_MIDPOINT)))


@functools.cache
def _few_points(n: int) -> float:
    """How much wider the band is when its spread comes from ``n`` points only: Student's t
    against the normal at the same two-sided 99 % (1.8 for 5 points, 1.26 for 10, 1.07 for
    30). Five quiet points can show almost no spread by chance, and a series' first minutes
    then turn its ordinary noise into an incident."""
    return float(student_t.ppf(0.995, n - 1) / norm.ppf(0.995))


@dataclass(frozen=True, slots=True)
class Anomaly:
    service: str
    metric: str
    onset_index: int
    score: float
    baseline: float
    latest: float


@dataclass(frozen=True, slots=True)
class Assessment:
    confirmed: bool
    noise_reason: str | None
    severity: Severity
    anomalies: tuple[Anomaly, ...]
    blast_radius: int
    """Services with at least one anomalous metric."""


def find_anomalies(
    series: Mapping[str, Mapping[str, Sequence[float]]],
    persistence: int,
    slos: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Anomaly]:
    """Metrics whose last ``persistence`` points are all anomalous, by service and metric.

    Only the tail is scored unless it is anomalous; then the onset is found by walking back,
    so a scan of a whole fleet costs a few points per metric. ``slos``: thresholds by service
    and metric (an estate file's SLOs); a metric past its threshold for ``persistence`` points
    is anomalous whatever its baseline, so a service that has been bad for longer than the
    scorer's window, or that degrades too slowly to stand out, is still caught.
    """
    found: list[Anomaly] = []
    for service, metrics in series.items():
        for metric, values in metrics.items():
            direction = BAD_DIRECTION.get(metric, 0)
            x = np.asarray(values, dtype=float)
            threshold = (slos or {}).get(service, {}).get(metric)
            if threshold is not None and (
                breach := _slo_breach(service, metric, x, threshold, persistence, direction)
            ):
                found.append(breach)
                continue
            if len(x) < MIN_HISTORY + persistence:
                continue
            tail = [
                score_at(x, i, direction=direction) for i in range(len(x) - persistence, len(x))
            ]
            if min(tail) < ANOMALOUS:
                if metric in EXHAUSTED_AT and (
                    trend := _exhaustion(service, metric, x, persistence)
                ):
                    found.append(trend)
                continue
            onset = len(x) - persistence
            while onset > MIN_HISTORY and score_at(x, onset - 1, direction=direction) >= ANOMALOUS:
                onset -= 1
            history = x[max(0, onset - WINDOW) : onset]
            baseline = float(np.median(history)) if len(history) else float("nan")
            if metric in MATERIAL and not (
                float(np.mean(x[-persistence:])) - baseline >= MATERIAL[metric]
            ):
                continue
            found.append(
                Anomaly(
                    service,
                    metric,
                    onset,
                    float(np.mean(tail)),
                    baseline,
                    float(x[-1]),
                )
            )
    return found


EXHAUSTED_AT: dict[str, float] = {"memory": 100.0, "free_storage": 0.0}
"""Metrics of a finite resource, and the value at which it is used up."""
TREND_POINTS = 10
TREND_P = 0.01
EXHAUSTION_STEPS = 30
"""How far ahead a trend that uses a resource up is an anomaly (30 minutes at one-minute steps)."""


def _exhaustion(
    service: str, metric: str, x: NDArray[np.float64], persistence: int
) -> Anomaly | None:
    """A resource running out: the last ``persistence`` windows of ``TREND_POINTS`` points each
    show a monotonic trend toward its limit (Kendall's tau, p < ``TREND_P``) that reaches it
    within ``EXHAUSTION_STEPS`` at the window's Theil-Sen slope (Prometheus' ``predict_linear``
    alert, made robust to noise). A leak climbs a few points a step inside a noisy band, so no
    single point stands out against the points before it; the trend does. Its onset is the
    first point of the first window."""
    limit = EXHAUSTED_AT.get(metric)
    if limit is None:
        return None
    sign = -1.0 if BAD_DIRECTION.get(metric, 0) < 0 else 1.0
    steps = np.arange(TREND_POINTS)
    first = len(x) - persistence - TREND_POINTS + 1
    if first < 0:
        return None
    significance = []
    for end in range(len(x) - persistence + 1, len(x) + 1):
        window = x[end - TREND_POINTS : end]
        if not np.isfinite(window).all():
            return None
        tau, p = kendalltau(steps, window)
        slope = sign * float(theilslopes(window, steps).slope)
        headroom = sign * (limit - float(window[-1]))
        if not (
            sign * tau > 0 and p < TREND_P and slope > 0 and headroom < slope * EXHAUSTION_STEPS
        ):
            return None
        significance.append(1.0 - float(p))
    before = x[max(0, first - WINDOW) : first]
    baseline = float(np.median(before)) if len(before) else float(x[first])
    return Anomaly(service, metric, first, float(np.mean(significance)), baseline, float(x[-1]))


def _slo_breach(
    service: str,
    metric: str,
    x: NDArray[np.float64],
    threshold: float,
    persistence: int,
    direction: int,
) -> Anomaly | None:
    """An anomaly when the last ``persistence`` points are all past ``threshold`` (below it
    for a metric whose bad direction is down); its onset is the first point of the breach."""
    sign = -1.0 if direction < 0 else 1.0
    past = np.isfinite(x) & (sign * (x - threshold) > 0)
    if len(x) < persistence or not past[-persistence:].all():
        return None
    onset = len(x) - persistence
    while onset > 0 and past[onset - 1]:
        onset -= 1
    before = x[max(0, onset - WINDOW) : onset]
    before = before[np.isfinite(before)]
    baseline = float(np.median(before)) if len(before) else threshold
    return Anomaly(service, metric, onset, 1.0, baseline, float(x[-1]))


def assess(
    series: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    tiers: Mapping[str, str],
    persistence: int = 3,
    security_finding: bool = False,
    alarm_flips: int = 0,
    focus: Iterable[str] = (),
    ms_per_latency_unit: Mapping[str, float] | None = None,
    slos: Mapping[str, Mapping[str, float]] | None = None,
    ignore: Collection[tuple[str, str]] = (),
    found: Sequence[Anomaly] | None = None,
) -> Assessment:
    """Confirm or close an incident from its metrics (and whether a security finding came).
    ``focus``: the services its alerts are about, whose metrics a noise verdict names
    (``noise_reason``); ``slos``: thresholds past which a metric is anomalous
    (``find_anomalies``); ``ignore``: ``(service, metric)`` pairs that moved for a known
    reason (capacity the commander changed itself); ``found``: the series' anomalies when the
    caller has them already (``find_anomalies`` with the same persistence and SLOs).

    Demand alone is not an incident: when the only anomalies left are request rates, the
    estate is serving more load within every other band, and the verdict says so."""
    if found is None:
        found = find_anomalies(series, persistence, slos)
    anomalies = [a for a in found if (a.service, a.metric) not in ignore]
    services = {a.service for a in anomalies}
    if security_finding:
        return Assessment(True, None, "sev1", tuple(anomalies), max(1, len(services)))
    if anomalies and all(a.metric in DEMAND_METRICS for a in anomalies):
        rose = ", ".join(sorted(services)[:REASON_SERVICES])
        reason = f"only demand rose ({rose} requests): every other metric within its band"
        return Assessment(False, reason, "sev4", (), 0)
    if not anomalies:
        reason = noise_reason(
            series, focus, persistence=persistence, alarm_flips=alarm_flips,
            ms_per_latency_unit=ms_per_latency_unit or {},
        )  # fmt: skip
        return Assessment(False, reason, "sev4", (), 0)
    critical = any(tiers.get(s) == "critical" for s in services)
    slo_hit = any(a.metric in {"errors", "latency", "throttles"} for a in anomalies)
    if critical and slo_hit:
        severity: Severity = "sev1"
    elif slo_hit or critical:
        severity = "sev2"
    else:
        severity = "sev3"
    return Assessment(True, None, severity, tuple(anomalies), len(services))


DEMAND_METRICS = frozenset({"requests"})
"""Load offered to a service: a rise is demand, harm only when another metric shows it."""

REASON_METRICS = (
    "errors", "latency", "throttles", "write_latency", "cpu", "memory", "connections",
    "concurrency", "free_storage", "capacity", "requests",
)  # fmt: skip
"""The metrics a noise verdict names, most telling first (SLO metrics, then saturation)."""
REASON_PER_SERVICE = 2
REASON_SERVICES = 3


def noise_reason(
    series: Mapping[str, Mapping[str, Sequence[float]]],
    focus: Iterable[str],
    *,
    persistence: int,
    alarm_flips: int = 0,
    ms_per_latency_unit: Mapping[str, float] | None = None,
) -> str:
    """Why metrics with no persistent anomaly make an incident noise, in a line a person can
    check: the latest value of the first ``REASON_PER_SERVICE`` metrics (``REASON_METRICS``
    order) of each service in ``focus`` (the first ``REASON_SERVICES``, by name), said to be
    within their normal band, or out of it but not for ``persistence`` points running (a
    transient). ``ms_per_latency_unit``: milliseconds per unit of a service's latencies
    (1000, CloudWatch's seconds, when missing)."""
    units = ms_per_latency_unit or {}
    calm: list[str] = []
    jumpy: list[str] = []
    for service in sorted(s for s in set(focus) if s in series)[:REASON_SERVICES]:
        inside: list[str] = []
        outside: list[str] = []
        for metric in REASON_METRICS:
            x = np.asarray(series[service].get(metric, ()), dtype=float)
            if not len(x) or not np.isfinite(x[-1]):
                continue
            said = _say(metric, float(x[-1]), units.get(service, 1000.0))
            out = score_at(x, len(x) - 1, direction=BAD_DIRECTION.get(metric, 0)) >= ANOMALOUS
            (outside if out else inside).append(said)
            if len(inside) + len(outside) == REASON_PER_SERVICE:
                break
        if inside:
            calm.append(f"{service} {' and '.join(inside)}")
        if outside:
            jumpy.append(f"{service} {' and '.join(outside)}")
    parts: list[str] = []
    if alarm_flips >= 3:
        parts.append(f"alarm flapped {alarm_flips} times")
    if calm:
        parts.append(f"{', '.join(calm)} within {'their' if _plural(calm) else 'its'} normal band")
    if jumpy:
        parts.append(f"{', '.join(jumpy)} out of band for fewer than {persistence} points running")
    if not calm and not jumpy:
        parts.append("metrics back within their baseline band")
    tail = "no persistent anomaly" if alarm_flips >= 3 else "no persistent anomaly: a transient"
    return "; ".join([*parts, tail])


def _plural(said: list[str]) -> bool:
    return len(said) > 1 or " and " in said[0]


def _say(metric: str, value: float, ms_per_unit: float) -> str:
    """``metric`` at ``value``, as a person reads it."""
    if metric in {"latency", "write_latency"}:
        return f"{metric.replace('_', ' ')} {value * ms_per_unit:.0f} ms"
    if metric == "errors":
        return f"errors {value:.1f} %"
    if metric in {"cpu", "memory"}:
        return f"{metric} {value:.0f} %"
    return f"{metric.replace('_', ' ')} {value:.3g}"


def vote_on(candidate: Candidate, assessment: Assessment) -> Vote:
    """Approve actions aimed where the anomaly is; abstain elsewhere."""
    on_target = [a for a in assessment.anomalies if a.service == candidate["service"]]
    if on_target:
        best = max(on_target, key=lambda a: a.score)
        return vote(
            AgentName.DETECTION,
            candidate,
            Stance.APPROVE,
            best.score,
            f"{candidate['service']} {best.metric} anomalous since point {best.onset_index}",
            [f"{a.metric}: {a.baseline:.3g} -> {a.latest:.3g}" for a in on_target],
        )
    if candidate["addresses"] in {
        "credential-compromise",
        "security-group-exposure",
        "instance-compromise",
    }:
        return vote(
            AgentName.DETECTION,
            candidate,
            Stance.APPROVE,
            0.7,
            "a security finding, not a metric anomaly, raised this incident",
        )
    return vote(
        AgentName.DETECTION,
        candidate,
        Stance.ABSTAIN,
        0.0,
        f"no anomaly on {candidate['service']}",
    )
