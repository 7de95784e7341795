"""``incident-commander serve`` as a separate process, as a user runs it: its first admin key read
from what it prints, its readiness waited for, and its stop by a signal of the test's choice."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

KEY = re.compile(r"\bic_[0-9a-f]{16}_[\w-]+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[str]
    base: str
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def key(self, timeout: float = 60.0) -> str:
        """The first admin key serve printed (it prints it once, to a fresh key store)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := KEY.findall(self.output):
                return str(found[0])
            assert self.process.poll() is None, f"serve exited:\n{self.output}"
            time.sleep(0.1)
        raise AssertionError(f"serve printed no key in {timeout:g} s:\n{self.output}")

    def get(self, path: str, key: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=_auth(key), timeout=10, **kwargs)

    def post(self, path: str, key: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", headers=_auth(key), timeout=10, **kwargs)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def serve(
    workdir: Path, env: Mapping[str, str], *, ready_s: float = 90.0, stop: int = signal.SIGTERM
) -> Iterator[Served]:
    """Run serve in ``workdir`` with ``env`` over the test's environment (its state, keys and
    audit trail in ``workdir`` unless ``env`` says otherwise); stopped with ``stop`` on exit."""
    port = free_port()
    full = {
        **os.environ,
        "IC_API_KEYS_DB": str(workdir / "keys.sqlite"),
        "IC_AUDIT_DB": str(workdir / "audit.sqlite"),
        "IC_STATE_DIR": str(workdir / "state"),
        "IC_PORT": str(port),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from services.cli import main; main()", "serve"],
        env=full, cwd=workdir, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    served = Served(process, f"http://127.0.0.1:{port}")
    reader = threading.Thread(target=_read, args=(process, served.lines), daemon=True)
    reader.start()
    try:
        _wait_ready(served, ready_s)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(stop)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        reader.join(5)
        if process.stderr is not None:
            process.stderr.close()


def _read(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)


def _wait_ready(served: Served, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert served.process.poll() is None, f"serve exited early:\n{served.output}"
        try:
            if httpx.get(f"{served.base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"serve was not ready in {timeout:g} s:\n{served.output}")
