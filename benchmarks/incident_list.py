"""Incident list latency: ``PgIncidentStore.page`` on 10,000 incidents, against a bare round trip.

Loads ``--incidents`` summaries (default 10,000) into a fresh schema of the PostgreSQL server at
``--url`` through ``PgIncidentStore.put``, the way the commander writes them, then ANALYZEs.
The summaries look like a busy estate's: 1 to 3 services each out of 50, statuses and
severities in realistic proportions (most open, some resolved, a few awaiting approval with a
pending approval carrying datetimes), opened over 30 days, a few at the same second.

Then, in interleaved turns (one call of each variant per turn, ``--calls`` turns), one client
thread on one pool, measured side by side:

- ``SELECT 1``: a pooled connection borrowed (with the pool's liveness check), one round trip,
  returned. The floor for any store call on this pool; the ratios are what a query adds.
- ``first page``: 50 newest, no filter (the list's landing view).
- ``open incidents``: status in open/confirmed/mitigating/awaiting_approval (the usual view).
- ``awaiting approval``: one rare status (about 3% of the incidents).
- ``sev1``: one severity, no status.
- ``service``: one service (about 4% of the incidents).
- ``deep cursor``: the page 5,000 incidents down, from the cursor the pages before it gave.
- ``counts``: incidents per (status, severity), the gateway's gauges.

Latencies are client-side, in the benchmark's process, on loopback.

Then the same pages through the HTTP API (``--http-calls`` turns): a cluster gateway
(``incident-commander serve`` with ``IC_REDIS_URL`` and ``IC_POSTGRES_URL``, in a child process)
on the same schema serves ``GET /v1/incidents``, measured against ``GET /v1/me`` on the same
server (authenticated like the list, no store call) from one ``httpx.Client``. The gateway
needs the local Redis only to start; the list reads Postgres alone.

The schema is dropped at the end. Target: p99 under 100 ms for every page.

Run: ``.venv/bin/python benchmarks/incident_list.py [--calls 2000] [--incidents 10000]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from benchkit import percentile
from psycopg import sql

from orchestrator.summary import IncidentSummary
from services.aws.resources import Estate
from services.gateway.auth import Role
from services.pg.estates import EstateRecord, EstateRegistry
from services.pg.incidents import PgIncidentStore
from services.pg.keys import PgApiKeyStore
from services.pg.pool import Pool, connection, open_pool

SERVICES = [f"svc-{n:02d}" for n in range(50)]
STATUSES = {
    "open": 40,
    "confirmed": 15,
    "mitigating": 10,
    "awaiting_approval": 3,
    "resolved": 22,
    "escalated": 5,
    "closed": 3,
    "noise": 2,
}
SEVERITIES = {"sev1": 5, "sev2": 20, "sev3": 40, "sev4": 25, None: 10}
OPEN = {"open", "confirmed", "mitigating", "awaiting_approval"}
START = datetime(2026, 2, 1, tzinfo=UTC)


def incidents(count: int, rng: random.Random) -> list[IncidentSummary]:
    out = []
    statuses, severities = list(STATUSES), list(SEVERITIES)
    for n in range(count):
        status = rng.choices(statuses, weights=list(STATUSES.values()))[0]
        opened = START + timedelta(seconds=rng.randrange(30 * 86400) // 30 * 30)
        updated = opened + timedelta(seconds=rng.randrange(7200))
        pending = None
        if status == "awaiting_approval":
            pending = {
                "candidate": {"id": f"c{n}", "action": "rollback", "params": {"to": "v41"}},
                "hash": f"{n:064x}",
                "action_hash": f"{n + 1:064x}",
                "rule": "tier1-needs-human",
                "asked_at": updated,
                "expires_at": updated + timedelta(minutes=15),
            }
        resolved = status in {"resolved", "closed"}
        out.append(
            IncidentSummary(
                id=f"inc-{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}",
                status=status,
                severity=rng.choices(severities, weights=list(SEVERITIES.values()))[0],
                title=f"{rng.choice(['5xx', 'latency', 'saturation', 'errors'])} on svc",
                services=tuple(sorted(rng.sample(SERVICES, rng.randint(1, 3)))),
                opened_at=opened,
                updated_at=updated,
                alerts=rng.randint(1, 12),
                acknowledged_by=rng.choice([None, "alice", "bob"]),
                pending_approval=pending,
                time_to_detect_s=float(rng.randrange(30, 600, 30)),
                time_to_resolve_s=float(rng.randrange(300, 7200, 30)) if resolved else None,
            )
        )
    return out


def variants(store: PgIncidentStore, pool: Pool) -> dict[str, Callable[[], Any]]:
    def page(**query: Any) -> Callable[[], Any]:
        base: dict[str, Any] = {"statuses": set(), "severities": set(), "service": None}
        base.update(query)
        return lambda: store.page(limit=50, **base)

    def select_one() -> Any:
        with connection(pool, "benchmark") as conn:
            return conn.execute("SELECT 1").fetchone()

    cursor = None
    for _ in range(100):  # 100 pages of 50: 5,000 incidents down
        _, cursor = store.page(
            statuses=set(), severities=set(), service=None, limit=50, cursor=cursor
        )
    return {
        "SELECT 1": select_one,
        "first page": page(cursor=None),
        "open incidents": page(statuses=OPEN, cursor=None),
        "awaiting approval": page(statuses={"awaiting_approval"}, cursor=None),
        "sev1": page(severities={"sev1"}, cursor=None),
        "service": page(service="svc-17", cursor=None),
        "deep cursor": page(cursor=cursor),
        "counts": store.counts,
    }


def measure(calls: dict[str, Callable[[], Any]], turns: int) -> dict[str, list[float]]:
    for call in calls.values():  # warm up: plans cached, pool filled
        for _ in range(20):
            call()
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for turn in range(turns):
        order = names[turn % len(names) :] + names[: turn % len(names)]  # rotate: no fixed slot
        for name in order:
            started = time.perf_counter()
            calls[name]()
            latencies[name].append(time.perf_counter() - started)
    return latencies


def report(
    title: str,
    latencies: dict[str, list[float]],
    rows: dict[str, int],
    *,
    bare: str,
    not_pages: frozenset[str] = frozenset(),
) -> None:
    """A table of every variant's latency, as is and as a ratio to ``bare`` (measured in the
    same interleaved turns), then the verdict on the worst page's p99 against 100 ms."""
    print(title)
    base50, base99 = percentile(latencies[bare], 0.5), percentile(latencies[bare], 0.99)
    print(f"ratios are to {bare!r}, measured in the same turns")
    print(
        f"{'variant':<19}{'rows':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'p50/bare':>10}{'p99/bare':>10}"
    )
    worst = 0.0
    for name, values in latencies.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        if name != bare and name not in not_pages:
            worst = max(worst, p99)
        print(
            f"{name:<19}{rows[name]:>6}{p50 * 1000:>9.3f}{p99 * 1000:>9.3f}"
            f"{max(values) * 1000:>9.3f}{p50 / base50:>10.2f}{p99 / base99:>10.2f}"
        )
    verdict = "met" if worst < 0.1 else "MISSED"
    print(f"target p99 < 100 ms for every page: {verdict} (worst page p99 {worst * 1000:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2_000, help="measured calls per variant")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--http-calls", type=int, default=1_000, help="0: skip the HTTP part")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs")
    schema = f"ic_bench_{uuid.uuid4().hex[:12]}"
    try:
        with open_pool(args.url, schema=schema, max_size=2) as pool:
            with connection(pool, "benchmark") as conn:
                version = conn.execute("SHOW server_version").fetchone()
            print(f"PostgreSQL {version[0] if version else '?'}, schema {schema}")
            store = PgIncidentStore(pool, estate="bench")
            summaries = incidents(args.incidents, random.Random(args.seed))
            started = time.perf_counter()
            for summary in summaries:
                store.put(summary)
            loaded = time.perf_counter() - started
            print(
                f"loaded {len(summaries)} incidents with put() in {loaded:.1f} s "
                f"({loaded / len(summaries) * 1000:.3f} ms each)"
            )
            with connection(pool, "benchmark") as conn:
                conn.execute("ANALYZE ic_incidents")
            calls = variants(store, pool)
            rows = {name: _rows(call()) for name, call in calls.items()}
            report(
                f"incident list: PgIncidentStore.page on {args.incidents} incidents, "
                f"{args.calls} interleaved calls per variant, 1 client thread, limit 50",
                measure(calls, args.calls), rows, bare="SELECT 1", not_pages=frozenset({"counts"}),
            )  # fmt: skip
            if args.http_calls:
                with served_gateway(args.url, args.redis, schema, pool) as client:
                    http = http_variants(client, store)
                    http_rows = {name: _rows(call()) for name, call in http.items()}
                    print()
                    report(
                        "incident list over HTTP: GET /v1/incidents on a cluster gateway "
                        f"(uvicorn, child process), {args.http_calls} interleaved calls per "
                        "variant, 1 client, limit 50",
                        measure(http, args.http_calls), http_rows, bare="GET /v1/me",
                    )  # fmt: skip
    finally:
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def served_gateway(url: str, redis_url: str, schema: str, pool: Pool) -> Iterator[httpx.Client]:
    """A cluster gateway on ``schema`` in a child process, and a client with an admin key."""
    EstateRegistry(pool).publish(
        EstateRecord(
            name="bench", run_id="bench", scenario="none",
            estate=Estate(
                run_id="bench", prefix="bench", region="us-east-1", services={}, depends_on={}
            ),
            catalogue={}, clock_start=START + timedelta(days=31), step_s=60, speed=1.0,
        )
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        _, key = PgApiKeyStore(pool).create("bench", [Role.VIEWER])
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IC_")},
            "IC_REDIS_URL": redis_url, "IC_POSTGRES_URL": url, "IC_POSTGRES_SCHEMA": schema,
            "IC_ESTATE": "bench", "IC_AWS_MODE": "localstack",
            "IC_LOCALSTACK_URL": "http://127.0.0.1:9",  # never called: the list reads Postgres
            "IC_TRACING": "false",
            "IC_RATE_LIMIT": "10000000/minute",
        }  # fmt: skip
        command = [sys.executable, "-m", "services.cli", "serve", "--port", str(port)]
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp
        )
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                _wait_until_up(client, server)
                yield client
        finally:
            server.terminate()
            server.wait(30)


def http_variants(client: httpx.Client, store: PgIncidentStore) -> dict[str, Callable[[], Any]]:
    def get(path: str, **params: Any) -> Callable[[], Any]:
        def call() -> Any:
            answer = client.get(path, params=params)
            answer.raise_for_status()
            body = answer.json()
            return (body["items"], body.get("next_cursor")) if "items" in body else ([body], None)

        return call

    cursor = None
    for _ in range(100):
        _, cursor = store.page(
            statuses=set(), severities=set(), service=None, limit=50, cursor=cursor
        )
    return {
        "GET /v1/me": get("/v1/me"),
        "first page": get("/v1/incidents", limit=50),
        "open incidents": get("/v1/incidents", limit=50, status=sorted(OPEN)),
        "awaiting approval": get("/v1/incidents", limit=50, status="awaiting_approval"),
        "sev1": get("/v1/incidents", limit=50, severity="sev1"),
        "service": get("/v1/incidents", limit=50, service="svc-17"),
        "deep cursor": get("/v1/incidents", limit=50, cursor=cursor),
    }


def _wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the gateway exited with {server.returncode}")
        try:
            if client.get("/v1/me").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway did not answer within 60 s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(result: Any) -> int:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list):
        return len(result[0])  # a page and its cursor
    if isinstance(result, dict):
        return sum(result.values())  # counts: incidents counted
    return 1


if __name__ == "__main__":
    main()
