"""Service-level root-cause localisation on labelled metric data: AS@1, AS@3, AS@5.

Input layout (``docs/benchmarks.md``), so any labelled data set can be converted to it:

    METRICS/<service>/<metric>.csv     timestamp,value   (one row per sample, any period)
    LABELS (JSON)                      [{"time": "<ISO 8601>", "service": "<root cause>"}, ...]
    EDGES  (JSON, optional)            [["caller", "dependency"], ...]

For each label, every series is cut from an hour before the fault's time to ten minutes after
it, on one time grid (:func:`evaluate`), and three rankings are scored on the same cuts, side by
side: the diagnosis agent's localisation (``agents.localisation.rank_by_deviation``, against a
fault-free reference when the data set has one), the live commander's ``rank_root_causes``, and
a plain z-score ranking (:func:`zscore_ranking`). AS@k is the share of labels whose true root
cause is among the first k, a tie counted at its expected place. Nezha's layout is read
directly by ``orchestrator.bench.nezha``.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from agents.diagnosis import rank_root_causes
from agents.localisation import rank_by_deviation
from services.errors import CommanderError


class RcaDataError(CommanderError):
    """The RCA data set is missing or not in the documented layout."""


@dataclass(frozen=True, slots=True)
class Case:
    time: datetime
    service: str
    rank: float | None
    """1-based rank of the true root cause, its expected place among services with the same
    score (three tied at the top are each 2.0); None when it was not ranked at all."""


@dataclass(frozen=True, slots=True)
class RcaReport:
    cases: tuple[Case, ...]

    def on(self, day: date) -> RcaReport:
        """The cases labelled on calendar ``day``."""
        return RcaReport(tuple(c for c in self.cases if c.time.date() == day))

    def accuracy_at(self, k: int) -> float:
        if not self.cases:
            return 0.0
        return sum(1 for c in self.cases if c.rank is not None and c.rank <= k) / len(self.cases)


Series = tuple[list[datetime], list[float]]


def load_metrics(folder: Path) -> dict[str, dict[str, Series]]:
    if not folder.is_dir():
        raise RcaDataError(f"{folder}: no such metrics folder")
    out: dict[str, dict[str, Series]] = {}
    for path in sorted(folder.glob("*/*.csv")):
        times: list[datetime] = []
        values: list[float] = []
        with path.open(newline="", encoding="utf-8") as handle:
            for line, record in enumerate(csv.DictReader(handle), start=2):
                try:
                    times.append(_parse_time(record["timestamp"]))
                    values.append(float(record["value"]))
                except (KeyError, ValueError) as exc:
                    raise RcaDataError(f"{path}:{line}: expected timestamp,value ({exc})") from exc
        out.setdefault(path.parent.name, {})[path.stem] = (times, values)
    if not out:
        raise RcaDataError(f"{folder}: no <service>/<metric>.csv files")
    return out


def load_labels(path: Path, services: Sequence[str]) -> list[tuple[datetime, str]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        labels = [(_parse_time(item["time"]), str(item["service"])) for item in raw]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RcaDataError(f"{path}: expected a JSON list of {{time, service}}: {exc}") from exc
    unknown = sorted({s for _, s in labels} - set(services))
    if unknown:
        raise RcaDataError(f"{path}: labels name services with no metrics: {', '.join(unknown)}")
    return labels


def load_edges(path: Path) -> list[tuple[str, str]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [(str(caller), str(dependency)) for caller, dependency in raw]
    except (OSError, ValueError, TypeError) as exc:
        raise RcaDataError(f"{path}: expected a JSON list of [caller, dependency]: {exc}") from exc


RANKINGS = ("diagnosis (deviation)", "rank_root_causes (live)", "z-score baseline")


def evaluate(
    metrics: dict[str, dict[str, Series]],
    labels: Sequence[tuple[datetime, str]],
    edges: Sequence[tuple[str, str]] = (),
    *,
    reference: Mapping[str, Mapping[str, Series]] | None = None,
    before: timedelta = timedelta(hours=1),
    after: timedelta = timedelta(minutes=10),
) -> dict[str, RcaReport]:
    """Each of :data:`RANKINGS` scored on the same cut of each fault.

    Each fault's cut is ``before`` its time to ``after`` it, on one grid of the data's sampling
    period (the median step between samples), every series read onto it (the last sample at
    or before each grid time, within one period; missing otherwise): so a sample index means
    the same instant in every series, and the fault starts at the same index in all of them.
    Hits count from the fault's time on (``lead=0``): the tail of an earlier fault, in the
    history, is not this one's. ``reference`` (fault-free series by service and metric) is the
    normal the deviation ranking compares with; without it, the cut's hour before the fault.
    """
    period = _period(metrics)
    stale_after = {  # the grid's period or the series' own, whichever is longer
        (service, metric): max(period, _period({"": {"": series}}))
        if len(series[0]) > 1
        else period
        for service, by in metrics.items()
        for metric, series in by.items()
    }
    normal = {
        service: {metric: values for metric, (_, values) in by.items()}
        for service, by in (reference or {}).items()
    }
    cases: dict[str, list[Case]] = {name: [] for name in RANKINGS}
    for when, truth in labels:
        grid = _grid(when - before, when + after, period)
        onset = bisect_left(grid, when)
        cut = {
            service: {
                metric: _on_grid(series, grid, stale_after[service, metric])
                for metric, series in by.items()
            }
            for service, by in metrics.items()
        }
        deviation = rank_by_deviation(cut, edges, onset, reference=normal)
        cases[RANKINGS[0]].append(Case(when, truth, expected_rank(deviation, truth)))
        # The live ranking orders by its uncapped score and reports it capped: its order is
        # the ranking, so it is scored by place.
        live = [n for n, score in rank_root_causes(cut, edges, onset, lead=0) if score > 0]
        cases[RANKINGS[1]].append(
            Case(when, truth, live.index(truth) + 1 if truth in live else None)
        )
        plain = zscore_ranking(cut, onset)
        cases[RANKINGS[2]].append(
            Case(when, truth, plain.index(truth) + 1 if truth in plain else None)
        )
    return {name: RcaReport(tuple(got)) for name, got in cases.items()}


def expected_rank(scores: Sequence[tuple[str, float]], truth: str) -> float | None:
    """``truth``'s 1-based place in ``scores``, the mean of the places it shares with services
    of the same score (ties are not broken by name); None when it scored 0 or not at all."""
    mine = dict(scores).get(truth, 0.0)
    if mine <= 0:
        return None
    higher = sum(1 for _, score in scores if score > mine)
    tied = sum(1 for _, score in scores if score == mine)
    return higher + (tied + 1) / 2


def zscore_ranking(cut: dict[str, dict[str, list[float]]], onset: int) -> list[str]:
    """The plain baseline: services by their largest absolute z-score after ``onset`` against
    the points before it (any metric); services with no history rank last."""
    strongest: dict[str, float] = {}
    for service, by_metric in cut.items():
        for values in by_metric.values():
            x = np.asarray(values, dtype=float)
            history, later = x[:onset], x[onset:]
            history, later = history[np.isfinite(history)], later[np.isfinite(later)]
            if len(history) < 3 or not len(later):
                continue
            spread = float(np.std(history)) or 1e-9
            z = float(np.max(np.abs(later - float(np.mean(history))))) / spread
            strongest[service] = max(strongest.get(service, 0.0), z)
    return sorted(strongest, key=lambda s: -strongest[s])


def _period(metrics: dict[str, dict[str, Series]]) -> timedelta:
    steps = [
        (b - a).total_seconds()
        for by in metrics.values()
        for times, _ in by.values()
        for a, b in itertools.pairwise(times)
        if b > a
    ]
    if not steps:
        raise RcaDataError("every series has fewer than two samples: no sampling period")
    return timedelta(seconds=float(np.median(steps)))


def _grid(start: datetime, end: datetime, period: timedelta) -> list[datetime]:
    count = int((end - start) / period)
    return [start + i * period for i in range(count + 1)]


def _on_grid(series: Series, grid: list[datetime], stale_after: timedelta) -> list[float]:
    """``series`` read at each grid time: its last sample at or before it, while that sample is
    younger than ``stale_after``."""
    times, values = series
    out: list[float] = []
    for at in grid:
        i = bisect_right(times, at) - 1
        fresh = i >= 0 and at - times[i] < stale_after
        out.append(values[i] if fresh else math.nan)
    return out


def _parse_time(value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None)
    text = str(value).strip()
    if text.isdigit():  # epoch seconds, as many RCA data sets store them
        return datetime.fromtimestamp(int(text), tz=UTC).replace(tzinfo=None)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
