"""Service-level root-cause localisation on labelled metric data: AS@1, AS@3, AS@5.

Input layout (``docs/benchmarks.md``), so any labelled data set can be converted to it:

    METRICS/<service>/<metric>.csv     timestamp,value   (one row per sample, any period)
    LABELS (JSON)                      [{"time": "<ISO 8601>", "service": "<root cause>"}, ...]
    EDGES  (JSON, optional)            [["caller", "dependency"], ...]

For each label, every series is cut to the ``window`` samples before the fault's time and the
``after`` samples from it, and the diagnosis agent's ``rank_root_causes`` ranks the services.
AS@k is the share of labels whose true root cause is among the first k.
"""

from __future__ import annotations

import csv
import json
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agents.diagnosis import rank_root_causes
from services.errors import CommanderError


class RcaDataError(CommanderError):
    """The RCA data set is missing or not in the documented layout."""


@dataclass(frozen=True, slots=True)
class Case:
    time: datetime
    service: str
    rank: int | None
    """1-based rank of the true root cause; None when it was not ranked at all."""


@dataclass(frozen=True, slots=True)
class RcaReport:
    cases: tuple[Case, ...]

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


def evaluate(
    metrics: dict[str, dict[str, Series]],
    labels: Sequence[tuple[datetime, str]],
    edges: Sequence[tuple[str, str]] = (),
    *,
    window: int = 60,
    after: int = 10,
) -> RcaReport:
    cases: list[Case] = []
    for when, truth in labels:
        cut: dict[str, dict[str, list[float]]] = {}
        onset = window
        for service, by_metric in metrics.items():
            for metric, (times, values) in by_metric.items():
                at = bisect_left(times, when)
                start = max(0, at - window)
                cut.setdefault(service, {})[metric] = values[start : at + after]
                onset = min(onset, at - start)
        ranked = [name for name, score in rank_root_causes(cut, edges, onset) if score > 0]
        rank = ranked.index(truth) + 1 if truth in ranked else None
        cases.append(Case(when, truth, rank))
    return RcaReport(tuple(cases))


def _parse_time(text: str) -> datetime:
    text = text.strip()
    if text.isdigit():  # epoch seconds, as many RCA data sets store them
        return datetime.fromtimestamp(int(text), tz=UTC).replace(tzinfo=None)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
