"""Nezha's labelled fault injections (Online Boutique half, metrics), read in the layout the
artifact ships, for ``bench rca --nezha``.

    rca_data/<day>/<day>-fault_list.json      {"<hour>": [{inject_time, inject_pod, ...}]}
    rca_data/<day>/metric/<pod>_metric.csv    one row a minute per pod
    rca_data/<day>/metric/dependency.csv      Source,Target(,Weight): caller, callee

A pod's service is its name without the ReplicaSet and pod suffixes
(``frontend-579b9bff58-t2dbm`` is ``frontend``). Times are the epoch seconds of ``TimeStamp``
(rows) and the UTC ``inject_time`` (labels, which the artifact's own code aligns on; its
``inject_timestamp`` is inconsistent on some entries). Columns are mapped to the metric roles
the diagnosis agent reads; ``PodSuccessRate(%)`` is 0 in every row and is left out.

``construct_data/<day>/metric/`` holds the same files for a period the artifact's authors use as
fault-free: :func:`load_reference` reads it as the normal the diagnosis agent's localisation
compares with (empty when a copy leaves it out).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.bench.rca import RcaDataError, Series

COLUMNS = {
    "PodServerLatencyP95(s)": "latency",
    "PodClientLatencyP95(s)": "client_latency",
    "PodWorkload(Ops)": "requests",
    "CpuUsageRate(%)": "cpu",
    "MemoryUsageRate(%)": "memory",
    "NetworkReceiveBytes": "network_in",
    "NetworkTransmitBytes": "network_out",
}
"""Nezha's column → the metric role it is read as (``agents.detection.BAD_DIRECTION``)."""


def service_of(pod: str) -> str:
    parts = pod.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else pod


def load(folder: Path) -> tuple[dict[str, dict[str, Series]], list[tuple[datetime, str]],
                                list[tuple[str, str]]]:  # fmt: skip
    """Metrics by service and role, labels (time, root-cause service), and call edges."""
    days = sorted(p for p in (folder / "rca_data").glob("*") if p.is_dir())
    if not days:
        raise RcaDataError(f"{folder}: no rca_data/<day>/ folders (Nezha's layout)")
    labels: list[tuple[datetime, str]] = []
    edges: set[tuple[str, str]] = set()
    for day in days:
        labels.extend(_labels(day / f"{day.name}-fault_list.json"))
        dependency = day / "metric" / "dependency.csv"
        if dependency.is_file():
            with dependency.open(newline="", encoding="utf-8") as handle:
                edges |= {(r["Source"], r["Target"]) for r in csv.DictReader(handle)}
    metrics = _metrics(days)
    unknown = sorted({s for _, s in labels} - set(metrics))
    if unknown:
        raise RcaDataError(f"{folder}: faults injected into pods with no metrics: {unknown}")
    return metrics, sorted(labels), sorted(edges)


def load_reference(folder: Path) -> dict[str, dict[str, Series]]:
    """The fault-free period's metrics by service and role, from ``construct_data/``."""
    return _metrics(sorted(p for p in (folder / "construct_data").glob("*") if p.is_dir()))


def _metrics(days: list[Path]) -> dict[str, dict[str, Series]]:
    rows: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
    for day in days:
        for path in sorted((day / "metric").glob("*_metric.csv")):
            _rows(path, rows.setdefault(service_of(path.name.removesuffix("_metric.csv")), {}))
    return {
        service: {
            role: ([t for t, _ in sorted(points)], [v for _, v in sorted(points)])
            for role, points in by_role.items()
        }
        for service, by_role in rows.items()
    }


def _labels(path: Path) -> list[tuple[datetime, str]]:
    try:
        by_hour = json.loads(path.read_text(encoding="utf-8"))
        return [
            (
                datetime.strptime(f["inject_time"], "%Y-%m-%d %H:%M:%S"),
                service_of(str(f["inject_pod"])),
            )
            for faults in by_hour.values()
            for f in faults
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RcaDataError(f"{path}: not a Nezha fault list: {exc}") from exc


def _rows(path: Path, into: dict[str, list[tuple[datetime, float]]]) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            try:
                at = datetime.fromtimestamp(int(record["TimeStamp"]), tz=UTC).replace(tzinfo=None)
                for column, role in COLUMNS.items():
                    into.setdefault(role, []).append((at, float(record[column])))
            except (KeyError, ValueError, TypeError) as exc:
                raise RcaDataError(f"{path}:{line}: {exc}") from exc
