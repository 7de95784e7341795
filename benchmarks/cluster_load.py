"""Cluster load: alerts per second two gateways of one cluster accept, and how long the
workers take to account for all of them, every part its own process on loopback.

The cluster is the tests' (``tests/clusterkit.py``): two ``incident-commander serve`` gateways,
``--workers`` workers (one commands, the others stand by) and the simulated estate
(``checkout-bad-deploy``), on the machine's PostgreSQL and Redis (or, with ``--aof``, a
private ``redis-server`` syncing its append-only file on every write, as a deployment that
must not lose an accepted alert runs it) and the embedded AWS emulator over HTTP.

The load is ``--concurrency`` senders per gateway, each its own ``httpx.AsyncClient`` with one
connection, one request at a time, no retries: ``POST /v1/alerts/generic`` with a new
fingerprint every time, one alert in ``--routed-every`` about a service of the estate
(``checkout``: it joins the open incident), the others about no service of it (journaled as
unrouted: no graph run). The backlog limit (``IC_INGEST_QUEUE_MAX``) is raised out of reach:
the gateways accept as fast as they can and the workers' backlog grows; what it costs them
is measured after the load stopped, as the time until the alert stream holds nothing appended
before the end of the load (handled messages are deleted from it), and then by reading the
audit trail: every fingerprint answered 202 must be there (``incident.opened``,
``alert.attached`` or ``alert.unrouted``), so accounted/accepted is 1.0.

Baseline, same run, same senders: ``GET /healthz`` (a probe: no authentication, no body, no
Redis) on the same two gateways, in interleaved rounds (``--rounds``; each round a quarter as
long as the round of ingest, before it). The ratio is what ingest adds to the bare HTTP path
of the gateways. Latencies are client-side. "CPU" is each process's CPU time over the measured
ingest rounds (from ``/proc``): on a small machine the load generator (this process), the
gateways and the commanding worker share the cores, so throughput is bounded by their sum.

Run: ``.venv/bin/python benchmarks/cluster_load.py [--seconds 60] [--concurrency 16] [--aof]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis
from benchkit import cpu_s, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from clusterkit import POSTGRES, REDIS, Cluster, cluster, wait_for
from faultkit import accounted, private_redis
from services.aws.port import open_aws_port
from services.settings import Settings

SCENARIO = "checkout-bad-deploy"
PREFIX = "lb"


@dataclass
class Side:
    """What one gateway answered, in the measured rounds of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    """Seconds, of the 202s (ingest) or 200s (healthz)."""
    statuses: Counter[int] = field(default_factory=Counter)
    """Every answer by status; 0 for a request that got no answer."""
    accepted: set[str] = field(default_factory=set)
    seconds: float = 0.0


@dataclass
class Load:
    """The senders: ``concurrency`` clients per gateway, each one connection."""

    gateways: list[str]
    key: str
    concurrency: int
    routed_every: int
    clients: list[list[httpx.AsyncClient]] = field(default_factory=list)
    sent: int = 0

    async def __aenter__(self) -> Load:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        headers = {"Authorization": f"Bearer {self.key}"}
        self.clients = [
            [
                httpx.AsyncClient(base_url=url, limits=one, timeout=30, headers=headers)
                for _ in range(self.concurrency)
            ]
            for url in self.gateways
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for per_gateway in self.clients:
            for client in per_gateway:
                await client.aclose()

    async def run(self, kind: str, seconds: float, sides: list[Side]) -> None:
        """``kind`` ("ingest" or "healthz") from every client for ``seconds``."""
        deadline = time.perf_counter() + seconds

        async def sender(client: httpx.AsyncClient, side: Side, g: int, c: int) -> None:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                started = time.perf_counter()
                try:
                    if kind == "healthz":
                        answer = await client.get("/healthz")
                        ok = 200
                    else:
                        self.sent += 1
                        fingerprint = f"{PREFIX}-{g}-{c}-{self.sent}"
                        service = (
                            "checkout" if self.sent % self.routed_every == 0 else "not-in-estate"
                        )
                        body = {
                            "title": f"{service} error rate above 5%", "service": service,
                            "severity": "high", "status": "firing", "fingerprint": fingerprint,
                        }  # fmt: skip
                        answer = await client.post("/v1/alerts/generic", json=body)
                        ok = 202
                        if answer.status_code == 202:
                            side.accepted.add(f"generic:{fingerprint}")
                    status = answer.status_code
                except httpx.HTTPError:
                    status, ok = 0, -1
                side.statuses[status] += 1
                if status == ok:
                    side.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(
            *(
                sender(client, sides[g], g, c)
                for g, per_gateway in enumerate(self.clients)
                for c, client in enumerate(per_gateway)
            )
        )
        for side in sides:
            side.seconds += time.perf_counter() - started


def processes_cpu(running: Cluster) -> dict[str, float]:
    out = {name: cpu_s(p.pid) for name, p in running.processes.items()}
    out["load generator"] = time.process_time()
    return out


def drained(running: Cluster, before_ms: int) -> bool:
    """No message appended before ``before_ms`` (Unix ms) is left in the alert stream."""
    first = running.redis().xrange(f"ic:alerts:{running.estate}", count=1)
    return not first or int(first[0][0].decode().split("-", 1)[0]) > before_ms


async def measure(args: argparse.Namespace, running: Cluster) -> None:
    n = len(running.gateways)
    ingest = [Side() for _ in range(n)]
    healthz = [Side() for _ in range(n)]
    per_round = args.seconds / args.rounds
    async with Load(running.gateways, running.key, args.concurrency, args.routed_every) as load:
        warm = [Side() for _ in range(n)]  # every connection opened, every path taken once
        await load.run("healthz", 0.5, warm)
        await load.run("ingest", 1.0, warm)
        cpu: dict[str, float] = dict.fromkeys(processes_cpu(running), 0.0)
        for _ in range(args.rounds):
            await load.run("healthz", per_round * args.baseline_share, healthz)
            before = processes_cpu(running)
            await load.run("ingest", per_round, ingest)
            after = processes_cpu(running)
            for name in cpu:
                cpu[name] += after[name] - before[name]
    stopped, stopped_ms = time.perf_counter(), int(time.time() * 1000)
    backlog = running.redis().xlen(f"ic:alerts:{running.estate}")
    wait_for(
        "the workers to drain the alert stream",
        lambda: drained(running, stopped_ms),
        timeout=args.drain_timeout,
    )
    drain_s = time.perf_counter() - stopped
    accepted = set().union(*(s.accepted for s in warm), *(s.accepted for s in ingest))
    got = accounted(running, f"generic:{PREFIX}-%")
    deadline = time.monotonic() + 30
    while not accepted <= got and time.monotonic() < deadline:  # the trail commits first
        time.sleep(1)
        got = accounted(running, f"generic:{PREFIX}-%")
    report(args, running, ingest, healthz, cpu, accepted, got, backlog, drain_s)


def report(
    args: argparse.Namespace, running: Cluster, ingest: list[Side], healthz: list[Side],
    cpu: dict[str, float], accepted: set[str], got: set[str], backlog: int, drain_s: float,
) -> None:  # fmt: skip
    print(
        f"cluster load: {len(running.gateways)} gateways, {args.workers} worker(s), estate "
        f"{SCENARIO}; {args.concurrency} senders per gateway (httpx.AsyncClient, one "
        f"connection each), {args.rounds} rounds x {args.seconds / args.rounds:.1f} s of "
        f"ingest, each after {args.seconds / args.rounds * args.baseline_share:.1f} s of "
        f"GET /healthz; 1 alert in {args.routed_every} routed to checkout"
    )
    rows = [(f"gateway {i + 1}", [s]) for i, s in enumerate(ingest)] + [("total", ingest)]
    base = [(f"gateway {i + 1}", [s]) for i, s in enumerate(healthz)] + [("total", healthz)]
    print(
        f"{'':<10}{'ingest/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'healthz/s':>10}{'p50 ms':>8}"
        f"{'p99 ms':>8}{'ratio/s':>8}{'p50':>6}{'p99':>6}  non-202 (ingest), non-200 (healthz)"
    )
    for (label, sides), (_, bases) in zip(rows, base, strict=True):
        i, h = _stats(sides), _stats(bases)
        print(
            f"{label:<10}{i['rps']:>9.0f}{i['p50']:>8.1f}{i['p99']:>8.1f}{h['rps']:>10.0f}"
            f"{h['p50']:>8.1f}{h['p99']:>8.1f}{i['rps'] / h['rps']:>8.2f}"
            f"{i['p50'] / h['p50']:>6.2f}{i['p99'] / h['p99']:>6.2f}  "
            f"{_others(sides, 202)}, {_others(bases, 200)}"
        )
    total = sum(len(s.latencies) for s in ingest)
    print(
        "CPU over the ingest rounds, ms per accepted alert: "
        + ", ".join(f"{name} {seconds * 1000 / total:.2f}" for name, seconds in cpu.items())
        + f" ({sum(cpu.values()):.0f} CPU s in {ingest[0].seconds:.0f} s on "
        f"{multiprocessing.cpu_count()} CPUs)"
    )
    missing = sorted(accepted - got)
    print(
        f"accounted/accepted: {len(accepted & got)}/{len(accepted)} = "
        f"{len(accepted & got) / len(accepted):.4f} (warm-up included)"
    )
    if missing:
        print(f"MISSING ({len(missing)}): {missing[:50]}")
    print(
        f"drain: {backlog} messages in the alert stream when the load stopped; the workers "
        f"handled all of them {drain_s:.1f} s later "
        f"({backlog / drain_s if drain_s else float('inf'):.0f} messages/s)"
    )
    if missing:
        raise SystemExit("error: accepted alerts were not accounted for")


def _stats(sides: list[Side]) -> dict[str, float]:
    latencies = [x for s in sides for x in s.latencies]
    seconds = sides[0].seconds  # the gateways are loaded side by side, at the same time
    if not latencies:
        return {"rps": 0.0, "p50": float("nan"), "p99": float("nan")}
    return {
        "rps": len(latencies) / seconds,
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
    }


def _others(sides: list[Side], ok: int) -> str:
    counts: Counter[int] = Counter()
    for side in sides:
        counts.update({k: v for k, v in side.statuses.items() if k != ok})
    return ", ".join(f"{k or 'no answer'}: {v}" for k, v in sorted(counts.items())) or "none"


def reachable(redis_url: str) -> None:
    try:
        with psycopg.connect(POSTGRES, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except (psycopg.Error, redis.RedisError) as exc:
        raise SystemExit(f"error: the cluster needs PostgreSQL and Redis: {exc}") from exc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="ingest time, all rounds")
    parser.add_argument("--concurrency", type=int, default=16, help="senders per gateway")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--baseline-share", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--routed-every", type=int, default=20)
    parser.add_argument("--speed", type=float, default=20, help="the estate's speed")
    parser.add_argument("--drain-timeout", type=float, default=900)
    parser.add_argument(
        "--aof", action="store_true", help="a private redis-server with appendfsync always"
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cluster-load-")))
        redis_url = REDIS
        if args.aof:
            redis_url = stack.enter_context(private_redis(folder / "redis")).url
        reachable(redis_url)
        config = redis.Redis.from_url(redis_url).config_get("append*")
        print(
            f"redis {redis_url}: appendonly {config.get('appendonly')}, "
            f"appendfsync {config.get('appendfsync')}"
        )
        aws = stack.enter_context(open_aws_port(Settings(_env_file=None, aws_mode="embedded")))  # type: ignore[call-arg]
        running = stack.enter_context(
            cluster(folder, aws, redis_url=redis_url, IC_INGEST_QUEUE_MAX="100000000")
        )
        workers = [f"w{i + 1}" for i in range(args.workers)]
        for name in workers:
            running.worker(name)
        running.gateway()
        running.gateway()
        running.world(SCENARIO, speed=args.speed)
        wait_for("the estate to be registered", running.run_id, timeout=120)
        wait_for(
            "a worker to command the estate",
            lambda: any(" commands estate " in (folder / f"{w}.log").read_text() for w in workers),
            timeout=120,
        )
        asyncio.run(measure(args, running))


if __name__ == "__main__":
    main()
