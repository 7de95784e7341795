"""Gathering evidence for the agents, through the AWS port only."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from agents import detection, diagnosis, remediation
from agents.detection import Anomaly
from agents.model import ServiceFacts
from orchestrator.context import Clock, RunContext
from orchestrator.correlation import callers_of, reachable
from orchestrator.state import Alert
from services.aws import snapshot, telemetry
from services.aws.resources import ServiceResources, metric_ids
from services.aws.snapshot import Snapshot
from services.scenario.model import ServiceKind

HISTORY_STEPS = 60
PARALLEL_READS = 8


def series(ctx: RunContext, services: Iterable[str]) -> dict[str, dict[str, list[float]]]:
    """Service -> metric role -> one value per step up to now; read once per step.

    ``errors`` is the error rate in percent of requests where the service counts requests.
    """
    wanted = frozenset(services)
    step = ctx.clock.step
    for (at, names), got in list(ctx.series_cache.items()):
        if at != step:
            ctx.series_cache.pop((at, names), None)
        elif wanted <= names:
            return {name: got[name] for name in wanted if name in got}
    fresh = _read_series(ctx, wanted)
    ctx.series_cache[(step, wanted)] = fresh
    return fresh


def anomalies(ctx: RunContext, persistence: int) -> list[Anomaly]:
    """Detection's anomalies over every metric of the estate whose last ``persistence`` points
    are anomalous (``detection.find_anomalies`` with the estate's SLOs), scored once per step."""
    step = ctx.clock.step
    key = (step, persistence)
    for stale in [k for k in ctx.anomaly_cache if k[0] != step]:
        del ctx.anomaly_cache[stale]
    if key not in ctx.anomaly_cache:
        got = series(ctx, ctx.estate.services)
        scored = since_load_served(got, ctx.settled, ctx.estate.depends_on, step)
        found = []
        for a in detection.find_anomalies(scored, persistence, slos(ctx)):
            if served(ctx, a.service, a.metric, a.latest):
                continue
            # an onset in a cut series, counted from the whole series' start as elsewhere
            cut = len(got[a.service][a.metric]) - len(scored[a.service][a.metric])
            found.append(replace(a, onset_index=a.onset_index + cut) if cut else a)
        ctx.anomaly_cache[key] = found
    return ctx.anomaly_cache[key]


def served(
    ctx: RunContext, service: str, metric: str, value: float, carrying: Collection[str] = ()
) -> bool:
    """The CPU of a service whose capacity the commander changed, or of one ``carrying`` a
    load-carried cause's load (its service and those its requests reach), at or under the
    target capacity is sized for (``CPU_TARGET``): more tasks carrying a saturating load run
    hotter than the old ones did at rest, and a service with headroom carrying more of its
    users' requests works harder; that is the load being served, not the fault (nor a new
    one)."""
    return (
        metric == "cpu" and (service in ctx.scaled or service in carrying) and value <= CPU_TARGET
    )


LOAD_METRICS = ("requests", "cpu", "connections", "concurrency")
"""What a service's load moves: more requests, busier CPUs, more connections and executions."""


def since_load_served(
    got: dict[str, dict[str, list[float]]],
    settled: Mapping[str, tuple[int, str]],
    depends_on: Mapping[str, Iterable[str]],
    now: int,
) -> dict[str, dict[str, list[float]]]:
    """``got`` (each series ending at step ``now``) with the load metrics of the services a
    served load reaches cut to start where it was served. A traffic spike the commander
    resolved with capacity (``settled``, as ``RunContext.settled``, a load-carried fault) goes
    on: its service and every service its requests reach keep carrying it, and their load
    metrics measured against the time before it would open incidents on the load the fix now
    serves. Those metrics are judged against their level since the fix instead (too short a
    history is no anomaly yet); errors, latency, memory and storage keep their whole history,
    so a new fault there is seen as before."""
    cuts: dict[str, int] = {}
    for service, (step, fault) in settled.items():
        if fault in remediation.LOAD_CARRIED:
            for name in {service} | reachable(service, depends_on):
                cuts[name] = max(cuts.get(name, step), step)
    if not cuts:
        return got
    out: dict[str, dict[str, list[float]]] = {}
    for name, metrics in got.items():
        cut = cuts.get(name)
        out[name] = {
            metric: values[max(0, len(values) - 1 - (now - cut)) :]
            if cut is not None and metric in LOAD_METRICS
            else values
            for metric, values in metrics.items()
        }
    return out


def _read_series(ctx: RunContext, services: Iterable[str]) -> dict[str, dict[str, list[float]]]:
    services = list(services)
    wanted = {}
    for name in services:
        for role, metric in metric_ids(ctx.estate.services[name]).items():
            wanted[f"{name}|{role}"] = metric
    first = max(0, ctx.clock.step - HISTORY_STEPS)
    fetched = telemetry.fetch_series(
        ctx.port, wanted, ctx.clock.at(first), ctx.clock.at(ctx.clock.step + 1), ctx.clock.step_s
    )
    out: dict[str, dict[str, list[float]]] = {}
    for key, got in fetched.items():
        name, role = key.split("|", 1)
        counted = wanted[key].stat == "Sum"
        out.setdefault(name, {})[role] = _on_grid(ctx.clock, got, first, counted)
    for name in services:
        logged = ctx.capacity_log.get(name)
        if logged:
            out.setdefault(name, {})["capacity"] = _logged_on_grid(logged, first, ctx.clock.step)
    for metrics in out.values():
        # 5xx and Lambda error counts grow with traffic; the rate is what says something broke.
        errors, requests = metrics.get("errors"), metrics.get("requests")
        if errors is not None and requests is not None and len(errors) == len(requests):
            metrics["errors"] = [
                100.0 * e / r if r > 0 else 0.0 for e, r in zip(errors, requests, strict=True)
            ]
    return out


def _logged_on_grid(logged: dict[int, float], first: int, step: int) -> list[float]:
    """A value the commander read itself (``RunContext.capacity_log``) once per step from
    ``first`` (or its first read) to now, a step it missed holding the value before it."""
    start = max(first, min(logged))
    out: list[float] = []
    last = logged[max(at for at in logged if at <= start)]
    for at in range(start, step + 1):
        last = logged.get(at, last)
        out.append(last)
    return out


def _on_grid(clock: Clock, got: telemetry.Series, first: int, counted: bool) -> list[float]:
    """One value per step from ``first`` to now, so the last value is always now's and index
    ``i`` is always step ``first + i`` (or the series' own first step). CloudWatch publishes
    no datapoint for a period of zero 5xx answers or errors, so a count missing from a step is
    0; any other metric missing from a step (a late datapoint) keeps its last value, and a
    series starts at its first datapoint."""
    by_step = {
        round((at - clock.start).total_seconds() / clock.step_s): value
        for at, value in zip(got.timestamps, got.values, strict=True)
    }
    out: list[float] = []
    last: float | None = None
    for step in range(first, clock.step + 1):
        if step in by_step:
            last = by_step[step]
            out.append(last)
        elif counted:
            out.append(0.0)
        elif last is not None:
            out.append(last)
    return out


def slos(ctx: RunContext) -> dict[str, dict[str, float]]:
    """SLO thresholds by service and metric, from the estate's catalogue (an estate file's
    ``slo``); none for a simulated estate."""
    return {name: dict(p.slo) for name, p in ctx.catalogue.items() if p.slo}


def ms_per_latency_unit(res: ServiceResources) -> float:
    """Milliseconds per unit of a service's latency metrics: CloudWatch gives a load
    balancer's and a database's in seconds, a function's (Lambda ``Duration``) in ms."""
    return 1.0 if res.kind is ServiceKind.LAMBDA else 1000.0


def logs(
    ctx: RunContext, services: Iterable[str], since_step: int, *, snapshots_of: Iterable[str] = ()
) -> dict[str, list[str]]:
    """Each service's log lines since ``since_step``, and with them the snapshots (capacity and
    revision) of ``snapshots_of`` that this step has not read yet, kept for ``facts``. Every read
    runs at once in parallel threads: on a real account each is a round trip of tens of
    milliseconds, and diagnosis names the services it may blame before it reads the logs, so a
    decision's evidence after its metrics costs one round trip (boto3 clients are thread-safe;
    the port's connection pool holds 32).

    Lines written before the verified fix of a cause on a service (``ctx.settled``) that are
    that cause's evidence are left out (``diagnosis.stale``)."""
    start, end = ctx.clock.at(max(0, since_step)), ctx.clock.at(ctx.clock.step + 1)
    step = ctx.clock.step
    ahead = [
        ctx.estate.services[name]
        for name in dict.fromkeys(snapshots_of)
        if (step, name) not in ctx.reads_cache
    ]
    fixed_at = {service: ctx.clock.at(at) for service, (at, _) in ctx.settled.items()}

    def read(name: str) -> list[str]:
        res = ctx.estate.services[name]
        return [
            line
            for written, line in telemetry.log_lines(ctx.port, res, start, end)
            if not diagnosis.stale(name, line, {s for s, at in fixed_at.items() if written < at})
        ]

    with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        reads = snapshot.start(ctx.port, ahead, pool)
        lines = {name: pool.submit(read, name) for name in services}
        out = {name: got.result() for name, got in lines.items()}
        # Read ahead of need: a failure is left to ``facts``, which raises it if it matters.
        _keep(ctx, step, reads.result(partial=True))
    return out


def snapshots(ctx: RunContext, services: Iterable[str]) -> dict[str, Snapshot]:
    """Each service's capacity and revision now: read once a step (ahead, by ``logs``, or here,
    all at once) and shared by the stages and the five voters; every action clears them."""
    step = ctx.clock.step
    names = list(services)
    out = {n: got for n in names if (got := ctx.reads_cache.get((step, n))) is not None}
    missing = [ctx.estate.services[name] for name in dict.fromkeys(names) if name not in out]
    if missing:
        with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
            fresh = snapshot.start(ctx.port, missing, pool).result()
        _keep(ctx, step, fresh)
        out |= fresh
    return out


def _keep(ctx: RunContext, step: int, read: dict[str, Snapshot]) -> None:
    for stale in [key for key in list(ctx.reads_cache) if key[0] != step]:  # list(): atomic
        ctx.reads_cache.pop(stale, None)
    for name, got in read.items():
        ctx.reads_cache[(step, name)] = got


def findings(alerts: Sequence[Alert]) -> list[tuple[str, str]]:
    return sorted({(a["service"], a["fault_hint"]) for a in alerts if a["fault_hint"]})


CPU_TARGET = 60.0


def facts(
    ctx: RunContext,
    services: Iterable[str],
    alerts: Sequence[Alert],
    onset_step: int | None = None,
) -> dict[str, ServiceFacts]:
    """Each service as the agents see it now: catalogue plus what AWS says."""
    names = list(services)
    got = series(ctx, names) if names else {}

    now = snapshots(ctx, names)
    callers = callers_of(ctx.estate.depends_on)  # their downtime is at stake too
    out: dict[str, ServiceFacts] = {}
    for name in names:
        profile = ctx.catalogue[name]
        capacity, change = now[name].capacity, now[name].change
        mine = [a for a in alerts if a["service"] == name]
        out[name] = ServiceFacts(
            name=name,
            kind=profile.kind,
            tier=profile.tier,
            protected=profile.protected,
            capacity=capacity,
            baseline_capacity=profile.baseline_capacity,
            max_capacity=profile.max_capacity,
            unit_cost_per_hour=profile.unit_cost_per_hour,
            downtime_cost_per_min=profile.downtime_cost_per_min,
            at_stake_per_min=profile.downtime_cost_per_min
            + sum(
                ctx.catalogue[c].downtime_cost_per_min for c in reachable(name, callers) - {name}
            ),
            previous_revision=change.previous if change else None,
            compromised_instances=sorted(
                {str(a["details"]["instance_id"]) for a in mine if a["details"].get("instance_id")}
            ),
            exposed_ports=sorted(
                {int(a["details"]["port"]) for a in mine if a["details"].get("port") is not None}
            ),
            access_key_id=next(
                (
                    str(a["details"]["access_key_id"])
                    for a in mine
                    if a["details"].get("access_key_id")
                ),
                None,
            ),
            pressure=_pressure(
                got.get(name, {}), capacity, profile.baseline_capacity, ctx.clock.step, onset_step
            ),
        )
    return out


def _pressure(
    metrics: dict[str, list[float]],
    capacity: int,
    baseline_capacity: int,
    step: int,
    onset_step: int | None,
) -> float:
    """CPU the service would run at now (estimated from its load when CPU is pinned at 100 %),
    over the CPU target: how many times its capacity must grow."""
    cpu, requests = metrics.get("cpu", []), metrics.get("requests", [])
    if not cpu:
        return 1.0
    first = step - (len(cpu) - 1)
    cut = max(3, (onset_step - first) if onset_step is not None else len(cpu) - 5)
    before_cpu, before_requests = cpu[:cut], requests[:cut]
    estimate = cpu[-1]
    if before_cpu and before_requests and float(np.median(before_requests)) > 0:
        load = requests[-1] / float(np.median(before_requests))
        baseline_cpu = float(np.median(before_cpu))
        estimate = max(estimate, load * baseline_cpu * baseline_capacity / max(1, capacity))
    return estimate / CPU_TARGET
