"""SSE fan-out: audit entries pushed live to every client of ``GET /v1/events``, over loopback.

One uvicorn server runs one gateway app with its real lifespan (key store, audit trail, live
commander on the embedded AWS emulator, estate paused) in a child process, as
``ingest_throughput.py`` does. ``N`` clients hold a stream each, then a producer in the server
emits ``M`` events, each stamped with its send time; every client records receive time minus
send time (``time.monotonic``, system-wide on Linux, so comparable across the two processes).
Measured side by side, in interleaved rounds, for each emit rate and client count:

- ``bare``: ``GET /bench/sse``, a route added to the same app for this benchmark only: an
  ``EventSourceResponse`` fed by an in-process asyncio fan-out (one unbounded queue per client,
  filled on the event loop), no authorisation, no audit trail. Each payload
  (``{"tag", "i", "sent"}``) is encoded to JSON once and the same text goes to every client.
  The app's middleware authenticates every path but its probes (``authn.PUBLIC``), so the bare
  stream presents the same key: that is one key lookup per connection, none per event.
- ``real``: ``GET /v1/events`` with a viewer API key. The producer appends one record per
  event (the same three fields as its ``data``) with ``AuditTrail.append``, from a worker
  thread of the server process: a SQLite transaction, then one ``subscribe`` callback per
  client, each crossing to the event loop with ``call_soon_threadsafe``, and per client the
  entry turned into its API view and JSON.

Both producers are driven by ``POST /bench/emit``, another benchmark-only route, and emit
either in a burst, as fast as they can (rate 0: throughput), or on a fixed schedule that both
variants keep up with (latency: in a burst, latency is mostly time spent queued). The bare
producer yields to the event loop after each event, as the real one does by running on another
thread.

"events/s" is the events delivered to all clients together over the time from the first send
to the last receipt. "server CPU" is the server process's CPU time per delivered event, and
"client CPU" the load generator's: on two cores the client can be the bottleneck. A stream that
has not received its ``M`` events within ``--timeout`` seconds after the producer finished is
closed and what it lacks is counted as missing; there should be none. After every turn the
server must be back to no connected stream (the gateway's ``ic_sse_clients`` gauge and the
bare fan-out's queue count), and its resident memory is printed at the start and the end.

Run: ``.venv/bin/python benchmarks/sse_fanout.py [--clients 10,100] [--events 500]
[--rates 0,50]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from benchkit import ask, bench_settings, percentile, run, start
from fastapi import Request
from prometheus_client import CollectorRegistry
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from services.audit import AuditRecord, AuditTrail
from services.aws.port import open_aws_port
from services.gateway.app import create_app
from services.gateway.auth import Role
from services.settings import Settings

VARIANTS = ("bare", "real")
KIND = "bench.sse"

# -- the server (child process) -----------------------------------------------------------------


class BareFanout:
    """The baseline: one asyncio queue per connected client, every payload put in each."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[tuple[int, str]]] = set()

    def stream(self) -> EventSourceResponse:
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.queues.add(queue)  # before the answer's headers: nothing emitted after is missed

        async def events() -> AsyncIterator[ServerSentEvent]:
            try:
                while True:
                    i, data = await queue.get()
                    yield ServerSentEvent(data=data, event=KIND, id=str(i))
            finally:
                self.queues.discard(queue)

        return EventSourceResponse(events(), ping=15)

    async def emit(self, n: int, tag: int, rate: float) -> list[float]:
        sent, start = [], time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()) if rate else 0)
            sent.append(time.monotonic())
            data = json.dumps({"tag": tag, "i": i, "sent": sent[-1]})
            for queue in self.queues:
                queue.put_nowait((i, data))
        return sent


def append_records(trail: AuditTrail, n: int, tag: int, rate: float) -> list[float]:
    """The real producer: one ``append`` per event, on the calling (worker) thread."""
    sent, start = [], time.monotonic()
    for i in range(n):
        if rate:
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
        sent.append(time.monotonic())
        data = {"tag": tag, "i": i, "sent": sent[-1]}
        trail.append([AuditRecord(actor="bench", kind=KIND, incident_id=None, data=data)])
    return sent


def serve(conn: Connection) -> None:
    """Run the gateway on loopback; answer the parent's commands on ``conn`` until "stop"."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_aws_port(Settings(_env_file=None, aws_mode="embedded")) as port,  # type: ignore[call-arg]
    ):
        settings = bench_settings(Path(tmp))
        registry = CollectorRegistry()
        app = create_app(settings, port=port, registry=registry, tracing=None)
        bare = BareFanout()

        async def emit(request: Request, variant: str, n: int, tag: int, rate: float) -> Any:
            if variant == "real":
                trail = request.app.state.gateway.trail
                sent = await run_in_threadpool(append_records, trail, n, tag, rate)
            else:
                sent = await bare.emit(n, tag, rate)
            return {"first": sent[0], "last": sent[-1]}

        app.add_api_route("/bench/sse", bare.stream, methods=["GET"], include_in_schema=False)
        app.add_api_route("/bench/emit", emit, methods=["POST"], include_in_schema=False)
        server, thread, url = start(app)
        gateway = app.state.gateway
        _, viewer_key = gateway.keys.create("bench", [Role.VIEWER])
        conn.send({"url": url, "key": viewer_key})
        page = os.sysconf("SC_PAGE_SIZE")
        try:
            while conn.recv() != "stop":  # every other command: the server's state
                conn.send(
                    {
                        "cpu": time.process_time(),
                        "rss_mib": int(Path("/proc/self/statm").read_text().split()[1])
                        * page
                        / 2**20,
                        "sse_clients": registry.get_sample_value("ic_sse_clients"),
                        "bare_clients": len(bare.queues),
                        "trail_seq": gateway.trail.last_seq(),
                    }
                )
        finally:
            server.should_exit = True
            thread.join(30)


# -- the load (parent process) ------------------------------------------------------------------


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    emitted: int = 0
    emit_seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    missing: int = 0
    disordered: int = 0  # duplicates or out of order

    def add(self, other: Sample) -> None:
        self.latencies += other.latencies
        self.seconds += other.seconds
        self.emitted += other.emitted
        self.emit_seconds += other.emit_seconds
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.missing += other.missing
        self.disordered += other.disordered


@dataclass
class Stream:
    """What one client received of one turn's events."""

    latencies: list[float] = field(default_factory=list)
    last_i: int = -1
    disordered: int = 0
    last_receipt: float = 0.0


async def listen(
    client: httpx.AsyncClient,
    variant: str,
    headers: dict[str, str],
    tag: int,
    events: int,
    stream: Stream,
    connected: asyncio.Queue[None],
) -> None:
    """Hold one stream until ``events`` events of turn ``tag`` have arrived."""
    path = "/v1/events" if variant == "real" else "/bench/sse"
    async with client.stream("GET", path, headers=headers) as response:
        response.raise_for_status()
        connected.put_nowait(None)
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            received = time.monotonic()
            body = json.loads(line[5:])
            payload = body["data"] if variant == "real" else body
            if body.get("kind", KIND) != KIND or payload["tag"] != tag:
                continue  # another writer's entry, or an earlier turn's
            stream.latencies.append(received - payload["sent"])
            stream.last_receipt = received
            if payload["i"] != stream.last_i + 1:
                stream.disordered += 1
            stream.last_i = max(stream.last_i, payload["i"])
            if len(stream.latencies) == events:
                return


async def turn(
    args: argparse.Namespace,
    conn: Connection,
    url: str,
    key: str,
    variant: str,
    count: int,
    rate: float,
    tag: int,
) -> Sample:
    """One turn: ``count`` streams open, ``args.events`` events emitted, all received."""
    headers = {"Authorization": f"Bearer {key}"}  # every path is authenticated, see above
    timeout = httpx.Timeout(30, read=60)  # the server pings every 15 s
    clients = [httpx.AsyncClient(base_url=url, timeout=timeout) for _ in range(count)]
    streams = [Stream() for _ in range(count)]
    connected: asyncio.Queue[None] = asyncio.Queue()
    tasks = [
        asyncio.create_task(listen(c, variant, headers, tag, args.events, s, connected))
        for c, s in zip(clients, streams, strict=True)
    ]
    try:
        await all_connected(connected, count, tasks)
        before, cpu = ask(conn, "state"), time.process_time()
        answer = await clients[0].post(
            "/bench/emit",
            params={"variant": variant, "n": args.events, "tag": tag, "rate": rate},
            headers=headers,
        )
        answer.raise_for_status()
        _, pending = await asyncio.wait(tasks, timeout=args.timeout)
        client_cpu, after = time.process_time() - cpu, ask(conn, "state")
        for task in pending:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a failed stream raises here
    finally:
        for task in tasks:
            task.cancel()
        for client in clients:
            await client.aclose()
    await settle(conn)
    sent = answer.json()
    return Sample(
        latencies=[latency for s in streams for latency in s.latencies],
        seconds=max(s.last_receipt for s in streams) - sent["first"],
        emitted=args.events,
        emit_seconds=sent["last"] - sent["first"],
        server_cpu=after["cpu"] - before["cpu"],
        client_cpu=client_cpu,
        missing=sum(args.events - len(s.latencies) for s in streams),
        disordered=sum(s.disordered for s in streams),
    )


async def all_connected(
    connected: asyncio.Queue[None], count: int, tasks: list[asyncio.Task[None]]
) -> None:
    """Wait until every stream has its answer's headers; raise the first stream's failure."""

    async def gather() -> None:
        for _ in range(count):
            await connected.get()

    ready = asyncio.create_task(gather())
    done, _ = await asyncio.wait([ready, *tasks], timeout=60, return_when="FIRST_COMPLETED")
    if ready not in done:
        ready.cancel()
        for task in done:
            task.result()
        raise TimeoutError(f"{connected.qsize()} of {count} streams connected in 60 s")


async def settle(conn: Connection) -> None:
    """Wait until the server has closed every stream of the turn; fail if it does not."""
    deadline = time.monotonic() + 10
    while (state := ask(conn, "state"))["sse_clients"] or state["bare_clients"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"streams left open on the server after a turn: {state}")
        await asyncio.sleep(0.05)


async def measure(args: argparse.Namespace, conn: Connection, url: str, key: str) -> None:
    counts = [int(c) for c in args.clients.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    tags = iter(range(1, 1_000_000))
    for variant in VARIANTS:  # warm up both paths: imports, the trail's pages, the pools
        await turn(args, conn, url, key, variant, min(counts), 0.0, next(tags))
    start = ask(conn, "state")
    totals = {(r, c, v): Sample() for r in rates for c in counts for v in VARIANTS}
    for n in range(args.rounds):
        for rate in rates:
            for count in counts:
                for variant in VARIANTS if n % 2 == 0 else VARIANTS[::-1]:
                    sample = await turn(args, conn, url, key, variant, count, rate, next(tags))
                    totals[rate, count, variant].add(sample)
    end = ask(conn, "state")
    report(args, totals)
    print(
        f"server: resident memory {start['rss_mib']:.0f} MiB after warm-up, "
        f"{end['rss_mib']:.0f} MiB at the end; streams left open: "
        f"{end['sse_clients']:.0f} real, {end['bare_clients']} bare; "
        f"audit trail at seq {end['trail_seq']}"
    )


def report(args: argparse.Namespace, totals: dict[tuple[float, int, str], Sample]) -> None:
    rows: dict[tuple[float, int, str], dict[str, float]] = {}
    for key, s in totals.items():
        delivered = len(s.latencies)
        rows[key] = {
            "emit": s.emitted / s.emit_seconds,
            "eps": delivered / s.seconds,
            "p50": percentile(s.latencies, 0.50) * 1000,
            "p99": percentile(s.latencies, 0.99) * 1000,
            "server": s.server_cpu / delivered * 1e6,
            "client": s.client_cpu / delivered * 1e6,
        }
    print(
        f"sse fan-out: 1 uvicorn {uvicorn.__version__} server in a child process, "
        f"{args.events} events per turn, {args.rounds} rounds, interleaved; "
        "delivered events/s are summed over all clients"
    )
    print(
        f"{'emit at':>7}{'clients':>8}  {'variant':<8}{'emit/s':>7}{'events/s':>9}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'server CPU us/ev':>17}{'client CPU us/ev':>17}{'delivered':>10}"
        f"{'missing':>8}{'disorder':>9}"
    )
    for (rate, count, variant), s in totals.items():
        r = rows[rate, count, variant]
        print(
            f"{pace(rate):>7}{count:>8}  {variant:<8}{r['emit']:>7.0f}{r['eps']:>9.0f}"
            f"{r['p50']:>9.2f}{r['p99']:>9.2f}{r['server']:>17.1f}{r['client']:>17.1f}"
            f"{len(s.latencies):>10}{s.missing:>8}{s.disordered:>9}"
        )
    print(f"{'real / bare':<19}{'events/s':>9}{'p50':>7}{'p99':>7}{'server CPU/ev':>15}")
    for rate, count in dict.fromkeys((r, c) for r, c, _ in totals):
        num, den = rows[rate, count, "real"], rows[rate, count, "bare"]
        print(
            f"{f'{pace(rate)}, {count} clients':<19}{num['eps'] / den['eps']:>9.2f}"
            f"{num['p50'] / den['p50']:>7.2f}{num['p99'] / den['p99']:>7.2f}"
            f"{num['server'] / den['server']:>15.2f}"
        )


def pace(rate: float) -> str:
    return f"{rate:.0f}/s" if rate else "burst"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,100", help="client counts, comma-separated")
    parser.add_argument("--events", type=int, default=500, help="events emitted per turn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rates", default="0,50", help="events/s emitted, comma-separated; 0: a burst, no pause"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds for every stream to get every event"
    )
    args = parser.parse_args()
    run(serve, measure, args)


if __name__ == "__main__":
    main()
