"""Alert storm: routed alerts through the gateway's HTTP API, into correlation and incident
graphs, until every one is accounted for and every incident decided.

The estate is drawn with the scenario generator's topology code (``stormkit.estate_document``:
parts of ten services, each a front door, a mid tier and data stores on a dependency DAG) and
simulated on the embedded AWS emulator, paused after its first step and healthy: every alert
comes from the benchmark. The commander runs as a user runs it: ``incident-commander serve``
(one process), then as a cluster (``tests/clusterkit.py``: ``--gateways`` gateways,
``--workers`` workers and the world, on the machine's Redis and PostgreSQL).

Each run sends two phases in the same order on the same system, paced (open loop: delivery
``i`` is due at ``i * seconds / alerts``) by ``--concurrency`` senders per gateway:

- ``ingest-only``: alerts naming no service of the estate. They are parsed, queued, taken and
  put on one triage incident: no correlation over the estate and no graph run. This is the
  path ``ingest_throughput.py`` measures, here at the storm's rate;
- ``routed``: each alert names a service of the estate (``POST /v1/alerts/generic``), so it is
  correlated with the open incidents and opens one (running its graph: detection reads every
  metric of the estate, and on this healthy estate closes it as noise; a confirmed one goes on
  to diagnosis and the vote) or joins one. Each fingerprint is sent ``--repeat`` times, as an
  alerting system re-sends a firing alert.

Then, through the API: every fingerprint accepted must be in the audit trail (opening or joining
an incident, or unrouted), every incident holding one must have a first decision (a consensus
decision, or its thread ending), and alert -> first decision is the later of the incident's
first decision and the alert's own placing, minus when the alert was first accepted (wall
clock). The backlog is the commander's queue (``/readyz``) in one process and the alert stream
(Redis) in the cluster, sampled each second. CPU is each process's, from ``/proc``, over the
phase until the last incident is decided, per accepted delivery.

Run: ``.venv/bin/python benchmarks/alert_storm.py [--services 200] [--alerts 10000]
[--seconds 60] [--mode both|single|cluster]``; a quick look: ``--services 20 --alerts 500
--seconds 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from benchkit import cpu_s, percentile
from stormkit import (
    DEFAULT_SERVICES,
    FORMAT_MAX_SERVICES,
    UNIT,
    Plan,
    Sent,
    Served,
    Trail,
    cluster,
    clustered,
    incidents,
    read_trail,
    send,
    single,
    write_estate,
)

from services.aws.port import open_aws_port
from services.settings import Settings


@dataclass
class Phase:
    label: str
    plan: Plan
    sent: Sent = field(default_factory=Sent)
    backlog: list[tuple[float, int]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    send_s: float = 0.0
    settle_s: float = 0.0
    missing: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    holding: set[str] = field(default_factory=set)
    to_decision: list[float] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    counted: Counter[str] = field(default_factory=Counter)
    """The commander's own counters over the phase (``Served.counters``)."""
    drained_s: float | None = None
    """When the backlog was first empty after the last delivery (from the phase's start)."""


def sample(served: Served, phase: Phase, stop: threading.Event, started: float) -> None:
    while not stop.is_set():
        try:
            phase.backlog.append((time.perf_counter() - started, served.backlog()))
        except Exception as exc:  # a slow answer under load is a gap, not a failed run
            print(f"  backlog sample failed: {type(exc).__name__}: {exc}")
        stop.wait(1.0)


def run_phase(served: Served, trail: Trail, phase: Phase, concurrency: int, timeout: float) -> None:
    pids = dict(served.pids)
    counters = served.counters()
    before = {name: cpu_s(pid) for name, pid in pids.items()} | {"load": time.process_time()}
    stop, started = threading.Event(), time.perf_counter()
    sampler = threading.Thread(target=sample, args=(served, phase, stop, started), daemon=True)
    sampler.start()
    phase.sent = asyncio.run(send(served.urls, served.key, phase.plan, concurrency))
    phase.send_s = time.perf_counter() - started
    accepted = set(phase.sent.first_accepted)
    deadline = time.monotonic() + timeout
    with served.client() as client:
        while True:
            read_trail(client, trail)
            placed = {fp: trail.placed[fp] for fp in accepted if fp in trail.placed}
            holding = {incident for incident, _ in placed.values()}
            undecided = holding - set(trail.decided)
            if phase.drained_s is None and served.backlog() == 0:
                phase.drained_s = time.perf_counter() - started
            done = len(placed) == len(accepted) and not undecided and phase.drained_s is not None
            if done or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    phase.settle_s = time.perf_counter() - started
    stop.set()
    sampler.join()
    after = {name: cpu_s(pid) for name, pid in pids.items()} | {"load": time.process_time()}
    phase.cpu = {name: after[name] - before[name] for name in after}
    phase.counted = served.counters()
    phase.counted.subtract(counters)
    phase.missing = sorted(accepted - set(placed))
    phase.holding, phase.undecided = holding, sorted(undecided)
    for fp, (incident, at) in placed.items():
        if incident in trail.decided:
            phase.to_decision.append(
                max(trail.decided[incident], at) - phase.sent.first_accepted[fp]
            )
    phase.decisions = Counter(trail.first_decision[i] for i in holding if i in trail.decided)


def report(name: str, served: Served, phases: list[Phase]) -> None:
    print(f"\n== {name}: {len(served.urls)} gateway(s), processes {', '.join(served.pids)}")
    print(
        f"{'phase':<12}{'sent':>7}{'202':>7}{'other':>7}{'sent/s':>8}{'late s':>7}"
        f"{'accept p50/p99 ms':>19}{'backlog max':>12}{'settled s':>10}{'accounted':>14}"
        f"{'incidents':>10}{'decided':>8}{'to decision p50/p99 s':>23}"
    )
    for p in phases:
        s = p.sent
        others = sum(v for k, v in s.statuses.items() if k != 202)
        distinct = len(s.first_accepted)
        lat = s.latencies or [float("nan")]
        dec = p.to_decision or [float("nan")]
        print(
            f"{p.label:<12}{p.plan.count:>7}{s.accepted:>7}{others:>7}"
            f"{p.plan.count / p.send_s:>8.0f}{s.late:>7.1f}"
            f"{percentile(lat, 0.5) * 1000:>9.1f}/{percentile(lat, 0.99) * 1000:<9.1f}"
            f"{max((b for _, b in p.backlog), default=0):>12}{p.settle_s:>10.1f}"
            f"{distinct - len(p.missing):>7}/{distinct:<6}{len(p.holding):>10}"
            f"{len(p.holding) - len(p.undecided):>8}"
            f"{percentile(dec, 0.5):>11.2f}/{percentile(dec, 0.99):<11.2f}"
        )
    for p in phases:
        cpu = ", ".join(f"{k} {v * 1000 / max(1, p.sent.accepted):.2f}" for k, v in p.cpu.items())
        print(f"{p.label}: CPU ms per accepted delivery: {cpu} ({sum(p.cpu.values()):.0f} CPU s)")
        print(f"{p.label}: first decisions {dict(p.decisions)}")
        counted = ", ".join(f"{k.removeprefix('ic_')} {v}" for k, v in p.counted.items())
        lost = p.sent.accepted - p.counted["ic_alerts_received_total"]
        print(
            f"{p.label}: commander counters over the phase: {counted}; accepted deliveries not "
            f"counted in: {lost}; backlog empty {p.drained_s or float('nan'):.1f} s from the start"
        )
        curve = " ".join(f"{t:.0f}s:{b}" for t, b in p.backlog[:: max(1, len(p.backlog) // 16)])
        print(f"{p.label}: backlog over time {curve}")
        if p.missing:
            print(f"{p.label}: MISSING {len(p.missing)} accepted alerts: {p.missing[:20]}")
        if p.undecided:
            print(f"{p.label}: UNDECIDED {len(p.undecided)} incidents: {p.undecided[:20]}")
    routed = phases[-1]
    done = len(routed.sent.first_accepted) - len(routed.missing)
    print(
        f"{name}: routed storm accepted {routed.sent.accepted} deliveries in "
        f"{routed.send_s:.1f} s and settled (all {done} fingerprints placed, "
        f"{len(routed.holding) - len(routed.undecided)}/{len(routed.holding)} incidents "
        f"decided) {routed.settle_s:.1f} s after the first: "
        f"{routed.sent.accepted / routed.settle_s:.0f} routed alerts/s end to end"
    )
    with served.client() as client:
        listed = incidents(client)
    statuses = dict(Counter(i["status"] for i in listed))
    print(f"{name}: {len(listed)} incidents listed, by status {statuses}")


def storm(args: argparse.Namespace, name: str, served: Served, services: list[str]) -> None:
    trail = Trail()
    prefix = f"{name}-{int(time.time())}"
    phases = [
        Phase("ingest-only", Plan(f"{prefix}-u", [UNIT], args.alerts, args.seconds, args.repeat)),
        Phase("routed", Plan(f"{prefix}-r", services, args.alerts, args.seconds, args.repeat)),
    ]
    for phase in phases:
        print(f"{name}: {phase.label}: {args.alerts} alerts over {args.seconds:g} s", flush=True)
        run_phase(served, trail, phase, args.concurrency, args.settle_timeout)
    report(name, served, phases)
    if any(p.missing or p.undecided for p in phases):
        print(f"{name}: error: accepted alerts not accounted for, or incidents not decided")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--services", type=int, default=DEFAULT_SERVICES,
        help=f"services in the estate (the scenario format takes at most {FORMAT_MAX_SERVICES})",
    )  # fmt: skip
    parser.add_argument("--alerts", type=int, default=10_000, help="deliveries per phase")
    parser.add_argument("--seconds", type=float, default=60.0, help="the storm's length")
    parser.add_argument("--repeat", type=int, default=5, help="deliveries per fingerprint")
    parser.add_argument("--concurrency", type=int, default=8, help="senders per gateway")
    parser.add_argument("--mode", choices=("both", "single", "cluster"), default="both")
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settle-timeout", type=float, default=1800, help="seconds per phase")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="alert-storm-") as tmp:
        folder = Path(tmp)
        estate, services = write_estate(folder, args.services)
        print(
            f"estate: {len(services)} services; {args.alerts} alerts per phase over "
            f"{args.seconds:g} s ({args.alerts / args.seconds:.0f}/s), each fingerprint "
            f"{args.repeat} times; load average {Path('/proc/loadavg').read_text().split()[:3]}"
        )
        if args.mode in ("both", "single"):
            (folder / "single").mkdir()
            started = time.perf_counter()
            with single(folder / "single", estate) as served:
                print(f"single: serve ready in {time.perf_counter() - started:.0f} s")
                storm(args, "single", served, services)
        if args.mode in ("both", "cluster"):
            with ExitStack() as stack:
                aws = stack.enter_context(
                    open_aws_port(Settings(_env_file=None, aws_mode="embedded"))  # type: ignore[call-arg]
                )
                (folder / "cluster").mkdir()
                running = stack.enter_context(
                    cluster(folder / "cluster", aws, IC_INGEST_QUEUE_MAX="100000000")
                )
                started = time.perf_counter()
                served = clustered(running, estate, args.gateways, args.workers)
                print(f"cluster: ready in {time.perf_counter() - started:.0f} s")
                storm(args, "cluster", served, services)


if __name__ == "__main__":
    main()
