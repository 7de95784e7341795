"""A real gateway for tests: ``create_app`` with its real lifespan (key store, audit trail,
live commander on a simulated estate) on the session's AWS emulator.

The estate is paused by default (``speed`` tiny: one step at start, then none), so a test
moves the clock itself with ``gateway.live.advance(n)`` and nothing happens behind its back.
``keys`` holds one API key per role, named after the role.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.aws.port import AwsPort
from services.gateway.app import create_app
from services.gateway.auth import Role
from services.gateway.deps import Gateway
from services.settings import Settings

PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "payloads"
PAUSED = 1e-6
"""A demo speed at which the estate's second step is weeks away."""


def gateway_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_keys_db": tmp_path / "keys.sqlite",
        "audit_db": tmp_path / "audit.sqlite",
        "state_dir": tmp_path / "state",
        "demo_speed": PAUSED,
        "rate_limit": "100000/minute",
        "ingest_rate_limit": "100000/minute",
        "auth_failure_limit": "100000/minute",
        "aws_mode": "embedded",
        # The payload fixtures are AWS's documentation examples, signed "EXAMPLE...": the
        # signature checks are tested on envelopes signed for real (test_sns_signature.py).
        "sns_verify_signatures": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Running:
    app: FastAPI
    client: TestClient
    settings: Settings
    keys: dict[str, str]
    registry: CollectorRegistry

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@contextmanager
def running_gateway(
    tmp_path: Path,
    aws: AwsPort,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    **overrides: Any,
) -> Iterator[Running]:
    settings = gateway_settings(tmp_path, **overrides)
    registry = CollectorRegistry()
    first: list[str] = []
    app = create_app(
        settings, port=aws, registry=registry, http_transport=http_transport,
        on_first_key=first.append,
    )  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as client:
        keys = {"admin": first[0]}
        store = app.state.gateway.keys
        for role in Role:
            if role is not Role.ADMIN:
                keys[role.value] = store.create(role.value, [role])[1]
        yield Running(app, client, settings, keys, registry)


@contextmanager
def served(app: FastAPI, **options: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server on loopback (for streaming: SSE); yields its base URL.
    ``options`` are more of uvicorn's (``services.gateway.app.server_options``)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start in 10 s")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
