"""A whole cluster on loopback for tests: gateways, workers and a simulated estate (``world``),
each a separate ``incident-commander`` process, sharing the local Redis and PostgreSQL and the
session's AWS emulator (the same moto server the in-process tests use, over HTTP).

Every cluster gets a Postgres schema and an estate name of its own (Redis keys are named after
the estate), so clusters of different tests never meet. Processes log to files under the
test's ``tmp_path``; a failing test prints their tails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import redis
from psycopg import sql

from conftest import skip_or_fail
from services.aws.port import AwsPort
from services.gateway.auth import Role
from services.pg.keys import PgApiKeyStore
from services.pg.pool import open_pool

POSTGRES = os.environ.get("IC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("IC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
COMMAND = [sys.executable, "-m", "services.cli"]
T = TypeVar("T")


def require_services(redis_url: str = REDIS) -> None:
    try:
        with psycopg.connect(POSTGRES, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL is not reachable at {POSTGRES}: {exc}")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {redis_url}: {exc}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something other than None/False; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Cluster:
    tmp: Path
    env: dict[str, str]
    schema: str
    estate: str
    key: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    gateways: list[str] = field(default_factory=list)

    # -- processes -------------------------------------------------------------------------------

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [*COMMAND, *args], env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.tmp,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", "--name", name)

    def world(self, scenario: str, speed: float) -> subprocess.Popen[bytes]:
        return self.start("world", "world", "--scenario", scenario, "--speed", str(speed))

    def gateway(self) -> str:
        port = free_port()
        self.start(f"gateway-{len(self.gateways) + 1}", "serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_for(f"the gateway on {url}", lambda: _answers(url), timeout=60)
        self.gateways.append(url)
        return url

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        process.send_signal(sig)
        process.wait(30)

    def leader(self) -> str | None:
        """The worker holding the estate's lease (by name), if any."""
        token = self.redis().get(f"ic:lease:{self.estate}")
        return None if token is None else token.decode().rsplit(":", 1)[0]

    def logs(self) -> str:
        parts = []
        for path in sorted(self.tmp.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"== {path.name} ==\n" + "\n".join(lines))
        return "\n".join(parts)

    # -- the shared stores -------------------------------------------------------------------

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["IC_REDIS_URL"])

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``query`` on the cluster's schema; none while its tables do not exist yet
        (the processes create them as they start)."""
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(self.schema)))
            try:
                return conn.execute(query, params).fetchall()  # type: ignore[arg-type]
            except psycopg.errors.UndefinedTable:
                return []

    def run_id(self) -> str | None:
        rows = self.sql("SELECT run_id FROM ic_estates WHERE name = %s", self.estate)
        return str(rows[0][0]) if rows else None

    def client(self, index: int = 0, **options: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.gateways[index],
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
            **options,
        )


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def cluster(
    tmp_path: Path, aws: AwsPort | str, *, redis_url: str = REDIS, **env: str
) -> Iterator[Cluster]:
    """An empty cluster: start its processes with ``gateway``, ``worker`` and ``world`` (or
    ``watch``). ``aws`` is the session's emulator, or the URL of another AWS endpoint."""
    require_services(redis_url)
    estate = f"t{uuid.uuid4().hex[:10]}"
    schema = f"ic_test_{estate}"
    with open_pool(POSTGRES, schema=schema, max_size=1) as pool:  # the gateways' key store
        _, key = PgApiKeyStore(pool).create("admin", [Role.ADMIN])
    base = {k: v for k, v in os.environ.items() if not k.startswith("IC_")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    base["PYTHONPATH"] = os.pathsep.join(p for p in (src, base.get("PYTHONPATH")) if p)
    values = {
        **base,
        "IC_AWS_MODE": "localstack",
        "IC_LOCALSTACK_URL": aws if isinstance(aws, str) else str(aws.endpoint_url),
        "IC_REDIS_URL": redis_url,
        "IC_POSTGRES_URL": POSTGRES,
        "IC_POSTGRES_SCHEMA": schema,
        "IC_ESTATE": estate,
        "IC_STATE_DIR": str(tmp_path / "state"),
        "IC_TRACING": "false",
        "IC_WORKER_METRICS_PORT": "0",
        "IC_LEASE_TTL_S": "3",
        "IC_RATE_LIMIT": "1000000/minute",
        "IC_INGEST_RATE_LIMIT": "1000000/minute",
        "IC_AUTH_FAILURE_LIMIT": "1000000/minute",
        "IC_SNS_VERIFY_SIGNATURES": "false",
        **env,
    }
    running = Cluster(tmp_path, values, schema, estate, key)
    try:
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        for process in running.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in running.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        _forget(running, redis_url)


def _forget(running: Cluster, redis_url: str) -> None:
    if os.environ.get("IC_TEST_KEEP_CLUSTER"):  # debugging a failure: look at what it left
        print(f"kept: schema {running.schema}, estate {running.estate}")
        return
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(f"ic:*{running.estate}*"):
            client.delete(key)
    except redis.RedisError:
        pass
    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(running.schema))
        )
