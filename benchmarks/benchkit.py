"""What the gateway benchmarks share: the gateway served by uvicorn in a spawned child process
(so the load generator has its own interpreter), driven over a pipe, and percentiles."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import threading
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvicorn

from services.settings import Settings

UNLIMITED = "10000000/minute"
"""A rate limit no benchmark reaches: the limits are measured by the tests, not here."""

Measure = Callable[[argparse.Namespace, Connection, str, str], Coroutine[Any, Any, None]]


def ask(conn: Connection, command: str) -> Any:
    """Send the server process a command and wait for its answer."""
    conn.send(command)
    return conn.recv()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(serve: Callable[[Connection], None], measure: Measure, args: argparse.Namespace) -> None:
    """Start ``serve`` in a spawned child; it sends ``{"url", "key"}`` once it listens, then
    answers commands until "stop". ``measure`` drives it from here."""
    print(f"python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs")
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(child,), name="gateway")
    server.start()
    child.close()  # the child's end, so that a child that dies is an EOF here
    try:
        if not parent.poll(300):
            raise RuntimeError("the gateway did not start in 300 s")
        first = parent.recv()
        asyncio.run(measure(args, parent, first["url"], first["key"]))
    finally:
        parent.send("stop")
        server.join(60)


def bench_settings(folder: Path) -> Settings:
    """The gateway's settings for a benchmark: state in ``folder``, the estate paused after
    its first step, tracing off (a benchmark instruments what it measures), no rate limits."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        aws_mode="embedded",
        api_keys_db=folder / "keys.sqlite",
        audit_db=folder / "audit.sqlite",
        state_dir=folder / "state",
        demo_speed=1e-6,
        tracing=False,
        rate_limit=UNLIMITED,
        ingest_rate_limit=UNLIMITED,
        auth_failure_limit=UNLIMITED,
    )


def start(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    """``app`` on uvicorn on a free loopback port, with its lifespan; returns once it listens."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn")
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped during startup")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process so far, from /proc; 0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
