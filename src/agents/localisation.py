"""Root-cause localisation on labelled or recorded metrics: which service deviates most from
its own normal, on one scale for every metric and service.

``rank_by_deviation`` is the ranking ``bench rca`` scores; the live commander still ranks with
``diagnosis.rank_root_causes`` (tuned to the scenario library's estates) and can opt into this
one. Three ideas, none fitted to one data set:

- **A normal to compare with.** Each metric's centre is the median of a fault-free reference
  (a recorded normal period) when there is one, else of the points before the onset; and its
  scale is the ``quantile`` of the reference's absolute deviations from that median. So a
  deviation of 1.0 is "as far out as the normal period's own rare extremes", whatever the
  metric's unit or noise: a flat series and a noisy one, a CPU rate and a byte count, are read
  on the same scale, and a service is its most deviant metric.
- **The onset, not the window.** Only the first ``after`` points from the onset count: the
  window after one fault may already hold the next one.
- **Callers see a dependency's trouble.** A delay on the network of a service shows on its
  callers' client-side latency, not on its own metrics. Each caller's outgoing-latency
  deviation is shared among the services it calls, and a service is blamed with the sum of its
  shares (a dependency every slow caller has in common gathers the most); its score is the
  larger of its own deviation and that blame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

OUTGOING = frozenset({"client_latency"})
"""Metric roles that measure a caller's view of the services it calls."""
MIN_REFERENCE = 10
"""Finite reference points a metric needs to have a normal at all."""


def rank_by_deviation(
    series: Mapping[str, Mapping[str, Sequence[float]]],
    edges: Sequence[tuple[str, str]],
    onset_index: int,
    *,
    reference: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    after: int = 3,
    quantile: float = 0.99,
) -> list[tuple[str, float]]:
    """Services by deviation score, highest first; equal scores keep the same score (a caller
    scoring the ranking should treat them as tied, not by their order here).

    ``series`` maps service -> metric role -> values on one time grid; ``onset_index`` is the
    grid index of the onset; ``reference`` holds fault-free values by service and role (any
    length, any time), used instead of the points before the onset where it has enough.
    """
    deviation: dict[str, dict[str, float]] = {}
    for service, metrics in series.items():
        normal = (reference or {}).get(service, {})
        for metric, values in metrics.items():
            x = np.asarray(values, dtype=float)
            base = _finite(normal.get(metric, ()))
            if len(base) < MIN_REFERENCE:
                base = _finite(x[:onset_index])
            later = _finite(x[onset_index : onset_index + after])
            if len(base) < MIN_REFERENCE or not len(later):
                continue
            centre = float(np.median(base))
            spread = np.abs(base - centre)
            scale = float(np.quantile(spread, quantile)) or float(np.max(spread)) or 1e-9
            deviation.setdefault(service, {})[metric] = float(np.max(np.abs(later - centre)))
            deviation[service][metric] /= scale
    calls: dict[str, list[str]] = {}
    for caller, dependency in edges:
        if caller in series and dependency in series:
            calls.setdefault(caller, []).append(dependency)
    blame: dict[str, float] = {}
    for caller, dependencies in calls.items():
        seen = max((v for m, v in deviation.get(caller, {}).items() if m in OUTGOING), default=0.0)
        for dependency in dependencies:
            blame[dependency] = blame.get(dependency, 0.0) + seen / len(dependencies)
    scores = {
        service: max(max(deviation.get(service, {}).values(), default=0.0), blame.get(service, 0.0))
        for service in series
    }
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _finite(values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64)
    finite: NDArray[np.float64] = x[np.isfinite(x)]
    return finite
