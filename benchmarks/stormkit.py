"""What the storm and soak benchmarks share: a large estate drawn with the scenario
generator's topology code, the commander run as ``incident-commander serve`` (one process) or
as a cluster (``tests/clusterkit.py``), paced senders of routed alerts, and the accounting of
every accepted alert from the audit trail, read back through the gateway's API."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from clusterkit import Cluster, free_port, wait_for
from clusterkit import cluster as cluster  # the benchmarks take it from here, after the path
from services.scenario.model import Scenario
from services.scenario.topology import draw_topology

PART = 10
"""Services per drawn topology; an estate is parts side by side (one connected DAG each)."""
FORMAT_MAX_SERVICES = Scenario.model_fields["services"].metadata[-1].max_length
DEFAULT_SERVICES = 200
"""The estate size BENCHMARKS.md records (the format's cap when it was measured); 500 is the
issue's size, by ``--services 500``."""
FINISHED = {"resolved", "escalated", "closed", "noise"}
UNIT = "storm-unknown"
"""The service named by ingest-only alerts: none of the estate's (triage: no graph run)."""


def estate_document(services: int, seed: int = 16) -> dict[str, Any]:
    """A healthy scenario of ``services`` services: topologies of ``PART`` services drawn by
    ``services.scenario.topology`` (front door, mid tier, data stores), names suffixed by
    part. No events: alerts about it come from the benchmark."""
    rng = random.Random(seed)
    sizes = [PART] * (services // PART)
    rest = services % PART
    if rest >= 4 or not sizes:
        sizes.append(rest)
    elif rest:
        sizes[-1] += rest
    documents: list[dict[str, Any]] = []
    for part, size in enumerate(sizes):
        topology = draw_topology(rng, size)
        rename = {node.name: f"{node.name}-{part}" for node in topology.nodes}
        for document in topology.documents():
            document["name"] = rename[document["name"]]
            if "depends_on" in document:
                document["depends_on"] = [rename[d] for d in document["depends_on"]]
            documents.append(document)
    return {
        "version": 1, "name": f"storm-{services}", "seed": seed, "duration": "30m",
        "step": "60s", "description": f"{services} healthy services in {len(sizes)} parts",
        "services": documents, "events": [],
    }  # fmt: skip


def write_estate(folder: Path, services: int) -> tuple[Path, list[str]]:
    if services > FORMAT_MAX_SERVICES:
        raise SystemExit(
            f"error: --services {services}: the scenario format (services.scenario.model) "
            f"takes at most {FORMAT_MAX_SERVICES} services"
        )
    document = estate_document(services)
    path = folder / "storm-estate.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path, [s["name"] for s in document["services"]]


# -- alerts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """``count`` deliveries over ``seconds``; delivery ``i`` repeats fingerprint
    ``i % distinct`` (an alerting system re-sends a firing alert), about ``services[j % n]``."""

    prefix: str
    services: list[str]
    count: int
    seconds: float
    repeat: int

    @property
    def distinct(self) -> int:
        return max(1, self.count // self.repeat)

    def body(self, i: int) -> dict[str, Any]:
        j = i % self.distinct
        service = self.services[j % len(self.services)]
        rule = ("errors", "latency", "saturation", "availability")[(j // len(self.services)) % 4]
        return {
            "title": f"{service} {rule} above threshold", "service": service,
            "severity": "high", "status": "firing", "fingerprint": f"{self.prefix}-{j}",
        }  # fmt: skip


@dataclass
class Sent:
    """What the senders got: per fingerprint, the wall time it was first accepted."""

    first_accepted: dict[str, float] = field(default_factory=dict)
    accepted: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    late: float = 0.0
    """The most a delivery started behind its schedule, in seconds."""


async def send(urls: list[str], key: str, plan: Plan, concurrency: int) -> Sent:
    """Deliver ``plan`` paced on its schedule (open loop: delivery ``i`` is due at
    ``i * seconds / count``), ``concurrency`` senders per gateway, each one connection."""
    sent = Sent()
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {key}"}
    clients = [
        httpx.AsyncClient(base_url=url, limits=one, timeout=60, headers=headers)
        for url in urls
        for _ in range(concurrency)
    ]
    gap = plan.seconds / plan.count
    start = time.perf_counter() + 0.2
    next_i = 0

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal next_i
        while next_i < plan.count:
            i, next_i = next_i, next_i + 1
            delay = start + i * gap - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                sent.late = max(sent.late, -delay)
            body = plan.body(i)
            wall, began = time.time(), time.perf_counter()
            try:
                status = (await client.post("/v1/alerts/generic", json=body)).status_code
            except httpx.HTTPError:
                status = 0
            sent.statuses[status] = sent.statuses.get(status, 0) + 1
            if status == 202:
                sent.accepted += 1
                sent.latencies.append(time.perf_counter() - began)
                sent.first_accepted.setdefault(f"generic:{body['fingerprint']}", wall)

    try:
        await asyncio.gather(*(sender(c) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    return sent


# -- reading back ---------------------------------------------------------------------------------


@dataclass
class Trail:
    """The audit trail read back: where each fingerprint went, and each incident's first
    decision (a consensus decision, or the thread ending: noise, closed, escalated)."""

    placed: dict[str, tuple[str, float]] = field(default_factory=dict)
    """fingerprint -> (incident id, wall time it was attached or opened the incident)."""
    decided: dict[str, float] = field(default_factory=dict)
    """incident id -> wall time of its first decision."""
    first_decision: dict[str, str] = field(default_factory=dict)
    incidents: set[str] = field(default_factory=set)
    after: int = 0


def read_trail(client: httpx.Client, trail: Trail) -> Trail:
    """Page the audit trail from where ``trail`` stopped (``GET /v1/audit``)."""
    while True:
        page = client.get("/v1/audit", params={"after": trail.after, "limit": 1000})
        page.raise_for_status()
        items = page.json()["items"]
        for entry in items:
            trail.after = entry["seq"]
            incident, kind, data = entry["incident_id"], entry["kind"], entry["data"]
            at = datetime.fromisoformat(entry["at"]).timestamp()
            if kind in ("incident.opened", "alert.attached"):
                trail.incidents.add(incident)
                trail.placed.setdefault(data["alert"]["fingerprint"], (incident, at))
            elif kind == "alert.unrouted":
                trail.placed.setdefault(data["fingerprint"], (incident, at))
            elif incident not in trail.decided and (
                kind == "decision" or (kind == "incident.status" and data.get("status") in FINISHED)
            ):
                trail.decided[incident] = at
                trail.first_decision[incident] = (
                    str(data.get("outcome")) if kind == "decision" else str(data["status"])
                )
        if len(items) < 1000:
            return trail


def incidents(client: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/incidents", params=params)
        page.raise_for_status()
        out += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return out


# -- processes -------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


@dataclass
class Served:
    """The commander under test: its gateways, an admin key, its processes by name, and how
    to read its backlog of accepted alerts not yet taken."""

    urls: list[str]
    key: str
    pids: dict[str, int]
    cluster: Cluster | None = None
    metrics: list[str] = field(default_factory=list)
    """Where the commander's Prometheus metrics are: the gateway's /metrics in one process,
    each worker's own endpoint in the cluster."""

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.urls[0], headers=headers, timeout=120)

    def backlog(self) -> int:
        if self.cluster is not None:  # handled messages are deleted from the stream
            length: int = self.cluster.redis().xlen(f"ic:alerts:{self.cluster.estate}")  # type: ignore[assignment]
            return length
        answer = httpx.get(f"{self.urls[0]}/readyz", timeout=30).json()
        return int(answer["queued_alerts"])

    def counters(self) -> Counter[str]:
        """The commander's alert counters (``ic_alerts_*_total``, ``ic_incidents_opened_total``)
        summed over sources and workers."""
        got: Counter[str] = Counter()
        headers = {"Authorization": f"Bearer {self.key}"}
        for url in self.metrics:
            for line in httpx.get(url, headers=headers, timeout=60).text.splitlines():
                name = line.split("{", 1)[0].split(" ", 1)[0]
                if name in COUNTERS:
                    got[name] += round(float(line.rsplit(" ", 1)[1]))
        return got


COUNTERS = (
    "ic_alerts_received_total",
    "ic_alerts_deduplicated_total",
    "ic_alerts_unrouted_total",
    "ic_incidents_opened_total",
)


BENCH_ENV = {
    "IC_TRACING": "false",
    "IC_RATE_LIMIT": "10000000/minute",
    "IC_INGEST_RATE_LIMIT": "10000000/minute",
    "IC_AUTH_FAILURE_LIMIT": "10000000/minute",
    "IC_INGEST_QUEUE_MAX": "100000000",
}


@contextmanager
def single(folder: Path, estate: Path) -> Iterator[Served]:
    """``incident-commander serve`` on ``estate`` (embedded emulator, estate paused after its
    first step: alerts come from the benchmark only), as a user runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IC_")}
    env = {
        **base, **BENCH_ENV, "IC_AWS_MODE": "embedded", "IC_STATE_DIR": str(folder / "state"),
        "IC_API_KEYS_DB": str(folder / "keys.sqlite"), "IC_AUDIT_DB": str(folder / "audit.sqlite"),
        "IC_DEMO_SCENARIO": str(estate), "IC_DEMO_SPEED": "1e-6",
    }  # fmt: skip
    command = [sys.executable, "-m", "services.cli"]
    created = subprocess.run(
        [*command, "keys", "create", "storm", "--role", "admin"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = created.stdout.split()[-1]
    port = free_port()
    with (folder / "serve.log").open("ab") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)], env=env, stdout=log,
            stderr=subprocess.STDOUT, cwd=folder,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("serve to be ready", lambda: _ready(url, process), timeout=900)
        yield Served([url], key, {"serve": process.pid}, metrics=[f"{url}/metrics"])
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise SystemExit(f"error: serve exited with {process.returncode}; see its serve.log")
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def clustered(running: Cluster, estate: Path, gateways: int, workers: int) -> Served:
    """Start the cluster's world (paused after its first step), workers and gateways."""
    names = [f"w{i + 1}" for i in range(workers)]
    metrics = []
    for name in names:
        port = free_port()
        running.start(name, "worker", "--name", name, IC_WORKER_METRICS_PORT=str(port))
        metrics.append(f"http://127.0.0.1:{port}/metrics")
    running.world(str(estate), speed=1e-6)
    wait_for("the estate to be registered", running.run_id, timeout=900)
    wait_for(
        "a worker to command the estate",
        lambda: any(" commands estate " in (running.tmp / f"{w}.log").read_text() for w in names),
        timeout=600,
    )
    for _ in range(gateways):
        running.gateway()
    pids = {name: p.pid for name, p in running.processes.items()}
    return Served(list(running.gateways), running.key, pids, running, metrics)
