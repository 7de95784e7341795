"""``incident-commander serve`` as a user runs it: a process that prints a first admin key once,
answers on its port with that key, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "IC_API_KEYS_DB": str(tmp_path / "keys.sqlite"),
        "IC_AUDIT_DB": str(tmp_path / "audit.sqlite"),
        "IC_STATE_DIR": str(tmp_path / "state"),
        "IC_AWS_MODE": "embedded",
    }
    command = [sys.executable, "-c", "from services.cli import main; main()", "serve"]
    return subprocess.Popen(
        [*command, "--port", str(port), "--speed", "0.000001"],
        env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited early"
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become ready in 60 s")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    return stderr


def test_serve_prints_a_first_admin_key_once_and_answers_with_it(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(tmp_path, port)
    try:
        _wait_healthy(base, process)
        assert httpx.get(f"{base}/v1/incidents").status_code == 401
    finally:
        stderr = _stop(process)
    # uvicorn shuts down gracefully, then re-raises the signal it got (exit status -15).
    assert process.returncode in {0, -signal.SIGTERM}, stderr
    assert "Application shutdown complete" in stderr
    [key] = re.findall(r"\bic_[0-9a-f]{16}_[\w-]+", stderr)

    # A second start finds the key store full: no new key, and the first one still works.
    process = _start(tmp_path, port)
    try:
        _wait_healthy(base, process)
        listed = httpx.get(f"{base}/v1/incidents", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200
        page = listed.json()
        assert (page["items"], page["next_cursor"]) == ([], None)
    finally:
        stderr = _stop(process)
    assert not re.findall(r"\bic_[0-9a-f]{16}_", stderr)
