"""The local Redis for the cluster parts' tests, through the client every cluster process opens
(``parts.redis_client``), and a name of each test's own: keys are named after it and deleted
after the test. A private ``redis-server`` for what the shared one cannot show (its
configuration, its death)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from conftest import skip_or_fail
from services.cluster.parts import redis_client

REDIS = os.environ.get("IC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis_client(REDIS)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        skip_or_fail(f"Redis is not reachable at {REDIS}: {exc}")
    yield client
    client.close()


@pytest.fixture
def name(client: redis.Redis) -> Iterator[str]:
    """An estate (or lease, or resource) name no other test uses; its keys go after the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = list(client.scan_iter(match=f"*{name}*"))
    if keys:
        client.delete(*keys)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unreachable_url() -> str:
    """A Redis URL on a loopback port nothing listens on (it was free a moment ago)."""
    return f"redis://127.0.0.1:{_free_port()}/0"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """The URL of a ``redis-server`` of the test's own, syncing its append-only file on every
    write; stopped after the test (a test may stop it sooner: ``SHUTDOWN NOSAVE``)."""
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not on PATH")
    port = _free_port()
    process = subprocess.Popen(
        [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--protected-mode", "no", "--daemonize", "no",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    probe = redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if probe.ping():
                    break
            except redis.RedisError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        probe.close()
        if process.poll() is None:
            process.kill()
        process.wait(10)
