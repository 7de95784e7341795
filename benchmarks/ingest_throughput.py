"""Ingest throughput: alert deliveries per second through the gateway, over HTTP on loopback.

One uvicorn server (uvicorn's defaults: uvloop and httptools when installed; access log off)
runs one gateway app with its real lifespan (key store, audit trail, live commander on the
embedded AWS emulator, estate paused) in a child process, so the load generator does not share
its interpreter. Measured side by side, in interleaved rounds:

- ``bare``: ``POST /bench/bare``, a route added to the same app for this benchmark only: 202,
  the body not parsed, no rate limit. Everything the app puts in front of every route (the
  body limit, HTTP metrics, authentication: the gateway has no unauthenticated routes but the
  probes, so the bare request carries the same API key) is still paid; it is the floor for any
  authenticated route on this server, and the ratio is what ingest itself adds.
- ``ingest``: ``POST /v1/alerts/alertmanager`` with an ingest API key and the Alertmanager
  fixture body: auth, rate limit, parsing and normalising, metrics, queueing for the commander.
- ``ingest+traced``: the same with OpenTelemetry tracing (``FastAPIInstrumentor`` with the
  ``services.tracing`` provider and an in-memory exporter).

The app is built with ``tracing=False`` and instrumented here as ``create_app`` does it (one
``instrument_app`` call), plus the instrumentation's own ``excluded_urls`` switch: matched
against the request URL with its host, it turns tracing off for requests addressed to the host
name ``untraced``. ``bare`` and ``ingest`` pay one regex search for it, nothing more.

The load is ``--concurrency`` workers, each with its own ``httpx.AsyncClient`` and connection
(one shared pool costs the client twice the CPU per request), bounded by time and by count.
Latencies are client-side. "server CPU" is the server process's CPU time over the requests it
served, and "client CPU" the load generator's: on a small machine the client can be the
bottleneck, and server CPU per request does not depend on which side is.

Ingest only queues alerts: the commander takes them behind the answer, on its worker thread in
the same process. To measure the HTTP path alone, the commander's lock is held during each
turn (``LiveCommander.call`` with a function that waits), and what was queued is taken after
the turn, timed apart. The count of alerts the commander had taken by the end (after draining
its queue) is printed, so queued is not read as processed.

Run: ``.venv/bin/python benchmarks/ingest_throughput.py [--seconds 10] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import uvicorn
from benchkit import ask, bench_settings, percentile, run, start
from fastapi import Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from orchestrator.commander import Commander
from orchestrator.live import LiveCommander
from services.aws.port import open_aws_port
from services.gateway.app import create_app
from services.gateway.auth import Role
from services.settings import Settings

try:
    from services.tracing import tracer_provider
except ImportError:  # an older tree: measure without the traced variant, and say so
    tracer_provider = None  # type: ignore[assignment]

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "shared/fixtures/payloads/alertmanager_webhook_v4_firing.DERIVED-from-official-schema.json"
)
UNTRACED_HOST = "untraced"
VARIANTS = (
    ("bare", "ingest", "ingest+traced") if tracer_provider is not None else ("bare", "ingest")
)


# -- the server (child process) -----------------------------------------------------------------


def serve(conn: Connection) -> None:
    """Run the gateway on loopback; answer the parent's commands on ``conn`` until "stop"."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_aws_port(Settings(_env_file=None, aws_mode="embedded")) as port,  # type: ignore[call-arg]
    ):
        settings = bench_settings(Path(tmp))
        app = create_app(settings, port=port, registry=CollectorRegistry())

        async def bare() -> Response:
            return Response(status_code=202)

        app.add_api_route("/bench/bare", bare, methods=["POST"], include_in_schema=False)
        exporter = InMemorySpanExporter()
        if tracer_provider is not None:
            FastAPIInstrumentor.instrument_app(
                app,
                tracer_provider=tracer_provider(None, exporter=exporter),
                excluded_urls=f"://{UNTRACED_HOST}/",
            )
        server, thread, url = start(app)
        gateway = app.state.gateway
        _, ingest_key = gateway.keys.create("bench-ingest", [Role.INGEST])
        conn.send({"url": url, "key": ingest_key})
        live = gateway.live
        release = threading.Event()
        try:
            while True:
                command = conn.recv()
                if command == "start":
                    release = hold(live)
                    exporter.clear()
                    conn.send(time.process_time())
                elif command == "end":
                    cpu, spans = time.process_time(), len(exporter.get_finished_spans())
                    queued = live.health().queued
                    started = time.perf_counter()
                    release.set()
                    live.call(lambda _: None)  # after the queue is drained
                    conn.send(
                        {
                            "cpu": cpu,
                            "spans": spans,
                            "queued": queued,
                            "drain_cpu": time.process_time() - cpu,
                            "drain_s": time.perf_counter() - started,
                        }
                    )
                elif command == "commander":
                    live.call(lambda _: None)
                    conn.send(
                        {
                            "alerts_in": live.commander.alerts_in,
                            "unrouted": live.unrouted,
                            "incidents": len(live.commander.incidents),
                        }
                    )
                elif command == "stop":
                    break
        finally:
            release.set()
            server.should_exit = True
            thread.join(30)


def hold(live: LiveCommander) -> threading.Event:
    """Hold the commander's lock (``call`` runs a function under it) until the event returned
    is set: deliveries are queued and none is taken, so a turn measures the HTTP path alone.
    ``call`` first takes whatever was queued before."""
    held, release = threading.Event(), threading.Event()

    def wait(commander: Commander) -> None:
        held.set()
        release.wait()

    threading.Thread(target=live.call, args=(wait,), name="hold", daemon=True).start()
    held.wait()
    return release


# -- the load (parent process) ------------------------------------------------------------------


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    errors: int = 0
    spans: int = 0

    @property
    def accepted(self) -> int:
        return len(self.latencies) - self.errors

    def add(self, other: Sample) -> None:
        self.latencies += other.latencies
        self.seconds += other.seconds
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.errors += other.errors
        self.spans += other.spans


@dataclass(frozen=True)
class Target:
    path: str
    headers: dict[str, str]


async def load(
    clients: list[httpx.AsyncClient], target: Target, body: bytes, seconds: float, limit: int
) -> Sample:
    """Requests to ``target`` from every client until ``seconds`` have passed or ``limit``
    requests were sent."""
    sample = Sample()
    deadline = time.perf_counter() + seconds
    sent = 0

    async def worker(client: httpx.AsyncClient) -> None:  # one request at a time
        nonlocal sent
        while sent < limit and time.perf_counter() < deadline:
            sent += 1
            started = time.perf_counter()
            response = await client.post(target.path, content=body, headers=target.headers)
            sample.latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                sample.errors += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(client) for client in clients))
    sample.seconds = time.perf_counter() - started
    sample.client_cpu = time.process_time() - cpu
    return sample


async def measure(args: argparse.Namespace, conn: Connection, url: str, key: str) -> None:
    body = FIXTURE.read_bytes()
    untraced = {"Host": UNTRACED_HOST, "Content-Type": "application/json"}
    auth = {"Authorization": f"Bearer {key}"}
    targets = {
        "bare": Target("/bench/bare", {**untraced, **auth}),
        "ingest": Target("/v1/alerts/alertmanager", {**untraced, **auth}),
        "ingest+traced": Target(
            "/v1/alerts/alertmanager", {"Content-Type": "application/json", **auth}
        ),
    }
    per_round = args.seconds / args.rounds
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=url, limits=one, timeout=30) for _ in range(args.concurrency)
    ]
    try:
        ingest = targets["ingest"]
        first = await clients[0].post(ingest.path, content=body, headers=ingest.headers)
        first.raise_for_status()
        firing_each, resolved_each = first.json()["firing"], first.json()["resolved"]
        deliveries = 1
        for name in VARIANTS:  # warm up every path and every connection
            warm = await load(clients, targets[name], body, 0.5, 2_000)
            deliveries += warm.accepted if name != "bare" else 0
        totals = {name: Sample() for name in VARIANTS}
        queued = drain_cpu = drain_s = 0.0
        for _ in range(args.rounds):
            for name in VARIANTS:
                cpu = ask(conn, "start")
                sample = await load(clients, targets[name], body, per_round, args.requests)
                end = ask(conn, "end")
                sample.server_cpu, sample.spans = end["cpu"] - cpu, end["spans"]
                totals[name].add(sample)
                queued += end["queued"]
                drain_cpu += end["drain_cpu"]
                drain_s += end["drain_s"]
    finally:
        for client in clients:
            await client.aclose()
    deliveries += sum(totals[name].accepted for name in VARIANTS if name != "bare")
    report(args, totals)
    if "ingest+traced" not in totals:
        print("ingest+traced: not measured, services.tracing.tracer_provider is not in this tree")
    taken = ask(conn, "commander")
    measured = sum(totals[name].accepted for name in VARIANTS if name != "bare")
    print(
        f"commander: {deliveries} deliveries accepted in all (warm-up included), each "
        f"{firing_each} firing + {resolved_each} resolved alert(s), so "
        f"{deliveries * firing_each} firing alerts queued. After draining its queue the "
        f"commander had taken {taken['alerts_in']} firing alerts (commander.alerts_in): "
        f"{taken['alerts_in'] - taken['unrouted']} routed to a service, {taken['unrouted']} "
        f"naming no service of the estate (on triage incidents); {taken['incidents']} incidents."
    )
    print(
        f"commander, held during the turns and drained after each: took the {queued:.0f} "
        f"signals of {measured} measured deliveries in {drain_s:.2f} s, "
        f"{drain_cpu / measured * 1000:.3f} ms CPU per delivery "
        f"(at most {measured / drain_s:.0f} deliveries/s sustained before its queue grows)"
    )


def report(args: argparse.Namespace, totals: dict[str, Sample]) -> None:
    rows: dict[str, dict[str, float]] = {}
    for name, s in totals.items():
        count = len(s.latencies)
        rows[name] = {
            "rps": count / s.seconds,
            "p50": percentile(s.latencies, 0.50) * 1000,
            "p99": percentile(s.latencies, 0.99) * 1000,
            "server": s.server_cpu / count * 1000,
            "client": s.client_cpu / count * 1000,
        }
    print(
        f"ingest throughput: 1 uvicorn {uvicorn.__version__} server in a child process, "
        f"{args.concurrency} concurrent connections (httpx.AsyncClient), "
        f"{args.rounds} rounds x {args.seconds / args.rounds:.2f} s per variant, interleaved"
    )
    print(
        f"{'variant':<15}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'server CPU ms/req':>19}"
        f"{'client CPU ms/req':>19}{'requests':>10}{'non-202':>9}{'spans/req':>11}"
    )
    for name, s in totals.items():
        r, count = rows[name], len(s.latencies)
        print(
            f"{name:<15}{r['rps']:>7.0f}{r['p50']:>8.2f}{r['p99']:>8.2f}{r['server']:>19.3f}"
            f"{r['client']:>19.3f}{count:>10}{s.errors:>9}{s.spans / count:>11.1f}"
        )
    ratios = [("ingest / bare", rows["ingest"], rows["bare"])]
    if "ingest+traced" in rows:
        ratios.append(("traced / untraced", rows["ingest+traced"], rows["ingest"]))
    print(f"{'ratio':<20}{'req/s':>7}{'p50':>7}{'p99':>7}{'server CPU/req':>16}")
    for label, num, den in ratios:
        print(
            f"{label:<20}{num['rps'] / den['rps']:>7.2f}{num['p50'] / den['p50']:>7.2f}"
            f"{num['p99'] / den['p99']:>7.2f}{num['server'] / den['server']:>16.2f}"
        )
    failed = {name: s.errors for name, s in totals.items() if s.errors}
    if failed:  # a ratio against refused requests measures the wrong thing: say so, loudly
        raise SystemExit(f"error: answers other than 202 in {failed}; these numbers are void")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per variant")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--requests", type=int, default=100_000, help="at most this many per variant per round"
    )
    args = parser.parse_args()
    run(serve, measure, args)


if __name__ == "__main__":
    main()
