"""Soak: routed alerts at a steady rate for minutes, in one process and in the cluster: does
resident memory stay flat, is every accepted alert accounted for, do open files stay flat?

The estate, the commander (``incident-commander serve``, then the cluster of
``tests/clusterkit.py``), the alerts and the accounting are the storm's (``alert_storm.py``,
``stormkit.py``): paced deliveries of ``POST /v1/alerts/generic`` naming services of the
estate, each fingerprint ``--repeat`` times. A warm-up at the same rate comes first (imports,
caches, connection pools and SQLite pages settle); then, every ``--every`` seconds during the
soak, each process's resident memory (``VmRSS`` of ``/proc/<pid>/status``) and open file
descriptors (``/proc/<pid>/fd``) are read. Growth is the last sample over the first. After
the load, every accepted fingerprint must be in the audit trail and every incident holding
one decided (as in the storm).

The default rates are half the routed alerts per second the storm measured end to end (accepted,
placed and decided) on this machine: 77/s in one process, 32/s in the cluster (BENCHMARKS.md,
"Alert storm (issue 16)"); pass ``--rate`` and ``--cluster-rate`` for others.

Run by hand, not in CI: ``.venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 38]
[--cluster-rate 16] [--mode both|single|cluster]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from alert_storm import Phase, run_phase
from stormkit import (
    DEFAULT_SERVICES,
    Plan,
    Served,
    Trail,
    cluster,
    clustered,
    open_fds,
    rss_kib,
    single,
    write_estate,
)

from services.aws.port import open_aws_port
from services.settings import Settings

Samples = dict[str, list[tuple[float, int, int]]]
"""Per process: (seconds into the soak, resident KiB, open descriptors)."""


def watch(served: Served, samples: Samples, stop: threading.Event, every: float) -> None:
    started = time.perf_counter()
    while True:
        for name, pid in served.pids.items():
            try:
                got = (time.perf_counter() - started, rss_kib(pid), open_fds(pid))
            except OSError:
                continue  # the process is gone: the report says so by its missing samples
            samples.setdefault(name, []).append(got)
        if stop.wait(every):
            return


def soak(args: argparse.Namespace, name: str, served: Served, services: list[str]) -> bool:
    trail, prefix = Trail(), f"soak-{name}-{int(time.time())}"
    rate, seconds = (args.rate if served.cluster is None else args.cluster_rate), args.minutes * 60
    warm = Phase("warm-up", Plan(f"{prefix}-w", services, max(1, round(rate * args.warmup)),
                                 args.warmup, args.repeat))  # fmt: skip
    run_phase(served, trail, warm, args.concurrency, args.settle_timeout)
    phase = Phase(
        "soak", Plan(f"{prefix}-s", services, round(rate * seconds), seconds, args.repeat)
    )
    samples: Samples = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(served, samples, stop, args.every))
    watcher.start()
    try:
        run_phase(served, trail, phase, args.concurrency, args.settle_timeout)
    finally:
        stop.set()
        watcher.join()
    sent = phase.sent
    others = {k: v for k, v in sent.statuses.items() if k != 202}
    distinct = len(sent.first_accepted)
    print(
        f"\n== {name}: {phase.plan.count} routed alerts over {seconds / 60:g} min "
        f"({rate:g}/s, after {warm.plan.count} in a {args.warmup:g} s warm-up): "
        f"{sent.accepted} accepted, others {others}, "
        f"most behind schedule {sent.late:.1f} s; accounted {distinct - len(phase.missing)}"
        f"/{distinct} fingerprints; incidents {len(phase.holding)}, decided "
        f"{len(phase.holding) - len(phase.undecided)}; backlog max "
        f"{max((b for _, b in phase.backlog), default=0)}; settled "
        f"{phase.settle_s - phase.send_s:.1f} s after the last delivery"
    )
    ok = not phase.missing and not phase.undecided
    print(f"{'process':<12}{'RSS first MiB':>14}{'last':>8}{'max':>8}{'growth':>8}"
          f"{'fds first':>10}{'last':>6}{'max':>6}")  # fmt: skip
    for process, rows in samples.items():
        rss = [r for _, r, _ in rows]
        fds = [f for _, _, f in rows]
        growth = rss[-1] / rss[0] - 1
        print(
            f"{process:<12}{rss[0] / 1024:>14.1f}{rss[-1] / 1024:>8.1f}{max(rss) / 1024:>8.1f}"
            f"{growth:>8.1%}{fds[0]:>10}{fds[-1]:>6}{max(fds):>6}"
        )
        curve = " ".join(
            f"{t / 60:.1f}m:{r / 1024:.0f}" for t, r, _ in rows[:: max(1, len(rows) // 12)]
        )
        print(f"  {process} RSS MiB over time: {curve}")
    if phase.missing or phase.undecided:
        print(f"{name}: MISSING {phase.missing[:20]} UNDECIDED {phase.undecided[:20]}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=38.0, help="routed alerts/s, one process")
    parser.add_argument("--cluster-rate", type=float, default=16.0, help="routed alerts/s, cluster")
    parser.add_argument("--services", type=int, default=DEFAULT_SERVICES)
    parser.add_argument("--repeat", type=int, default=5, help="deliveries per fingerprint")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds at the same rate")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--concurrency", type=int, default=4, help="senders per gateway")
    parser.add_argument("--mode", choices=("both", "single", "cluster"), default="both")
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settle-timeout", type=float, default=1800)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs")
    ok = True
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(tmp)
        estate, services = write_estate(folder, args.services)
        print(f"estate: {len(services)} services; load average "
              f"{Path('/proc/loadavg').read_text().split()[:3]}")  # fmt: skip
        if args.mode in ("both", "single"):
            (folder / "single").mkdir()
            with single(folder / "single", estate) as served:
                ok &= soak(args, "single", served, services)
        if args.mode in ("both", "cluster"):
            with ExitStack() as stack:
                aws = stack.enter_context(
                    open_aws_port(Settings(_env_file=None, aws_mode="embedded"))  # type: ignore[call-arg]
                )
                (folder / "cluster").mkdir()
                running = stack.enter_context(
                    cluster(folder / "cluster", aws, IC_INGEST_QUEUE_MAX="100000000")
                )
                served = clustered(running, estate, args.gateways, args.workers)
                ok &= soak(args, "cluster", served, services)
    if not ok:
        raise SystemExit("error: accepted alerts not accounted for, or incidents not decided")


if __name__ == "__main__":
    main()
