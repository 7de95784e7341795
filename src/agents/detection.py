"""Detection: is something really wrong, how badly, and where? Closes noise.

The scorer is causal and robust: each point is compared with the median and the MAD (median
absolute deviation, scaled to a normal sigma) of the points before it, never after. A point's
score is a logistic of its robust z-score, in [0, 1]. It is cheap enough to run over every
metric of a fleet every minute.

An incident is confirmed when an SLO or saturation metric stays anomalous for ``persistence``
consecutive points. It is closed as noise when the metrics are back to normal by then (a
transient spike), or when an alarm flaps while its metric never leaves its band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import median_abs_deviation

from agents.model import AgentName, Candidate, Severity, Stance, Vote, vote

WINDOW = 30
MIN_HISTORY = 5
Z_MIDPOINT = 4.0
"""Robust z-score that scores 0.5."""
ANOMALOUS = 0.5

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


def anomaly_scores(
    values: Sequence[float] | NDArray[np.float64],
    *,
    window: int = WINDOW,
    min_history: int = MIN_HISTORY,
    direction: int = 0,
) -> NDArray[np.float64]:
    """Per-point anomaly score in [0, 1]; point ``i`` uses only points ``< i`` and itself.

    ``direction`` +1 scores only rises, -1 only falls, 0 both.
    """
    x = np.asarray(values, dtype=float)
    return np.array(
        [score_at(x, i, window=window, min_history=min_history, direction=direction)
         for i in range(len(x))]
    )  # fmt: skip


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
    # A flat history has no spread: fall back to 2 % of its level, then to a tiny floor.
    spread = max(spread, 0.02 * abs(centre), 1e-9)
    deviation = float(x[i]) - centre
    if direction:
        deviation = max(0.0, deviation * direction)
    z = abs(deviation) / spread
    return 1.0 / (1.0 + math.exp(-(z - Z_MIDPOINT)))


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
    series: Mapping[str, Mapping[str, Sequence[float]]], persistence: int
) -> list[Anomaly]:
    """Metrics whose last ``persistence`` points are all anomalous, by service and metric.

    Only the tail is scored unless it is anomalous; then the onset is found by walking back,
    so a scan of a whole fleet costs a few points per metric.
    """
    found: list[Anomaly] = []
    for service, metrics in series.items():
        for metric, values in metrics.items():
            direction = BAD_DIRECTION.get(metric, 0)
            x = np.asarray(values, dtype=float)
            if len(x) < MIN_HISTORY + persistence:
                continue
            tail = [
                score_at(x, i, direction=direction) for i in range(len(x) - persistence, len(x))
            ]
            if min(tail) < ANOMALOUS:
                continue
            onset = len(x) - persistence
            while onset > MIN_HISTORY and score_at(x, onset - 1, direction=direction) >= ANOMALOUS:
                onset -= 1
            history = x[max(0, onset - WINDOW) : onset]
            found.append(
                Anomaly(
                    service,
                    metric,
                    onset,
                    float(np.mean(tail)),
                    float(np.median(history)) if len(history) else float("nan"),
                    float(x[-1]),
                )
            )
    return found


def assess(
    series: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    tiers: Mapping[str, str],
    persistence: int = 3,
    security_finding: bool = False,
    alarm_flips: int = 0,
) -> Assessment:
    """Confirm or close an incident from its metrics (and whether a security finding came)."""
    anomalies = find_anomalies(series, persistence)
    services = {a.service for a in anomalies}
    if security_finding:
        return Assessment(True, None, "sev1", tuple(anomalies), max(1, len(services)))
    if not anomalies:
        reason = (
            f"alarm flapped {alarm_flips} times while its metrics stayed in band"
            if alarm_flips >= 3
            else "metrics back within their baseline band: a transient, not an incident"
        )
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
