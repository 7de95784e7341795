"""Faults for the cluster's tests: a private ``redis-server`` to kill and start again, and a TCP
relay on loopback to put between the cluster's processes and PostgreSQL, to cut and restore.

Both live only as long as their test: the Redis server runs in the test's temporary folder on
a port of its own, and the relay forwards to the machine's PostgreSQL (which other tests share,
so it is never stopped itself: the relay plays its outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import redis

from clusterkit import Cluster, free_port
from conftest import skip_or_fail

# -- a private redis-server ------------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on its own port and folder, with its append-only file synced on every
    write (``appendfsync always``) and no RDB snapshots: what it acknowledged survives a
    SIGKILL. ``kill`` and ``start`` again keep the port and the folder."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not on PATH")
        self.binary = binary
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it answers PING (after loading its AOF)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        log = (self.folder / "redis-server.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "", "--protected-mode", "no", "--daemonize", "no",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer in {timeout:g} s")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server abruptly (no shutdown, no final save)."""
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def log_tail(self, lines: int = 20) -> str:
        path = self.folder / "redis-server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def private_redis(folder: Path) -> Iterator[RedisServer]:
    """A started :class:`RedisServer` in ``folder``, killed on exit."""
    server = RedisServer(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- a TCP relay -----------------------------------------------------------------------------------


class Relay:
    """Forwards connections from ``127.0.0.1:<port>`` to ``target``, on an asyncio loop of its
    own thread, until ``cut``: every connection is closed at once and the port refuses new
    ones (its listening socket is closed) until ``restore`` listens on the same port again.

    Use it as a context manager; ``url`` rewrites a URL to go through the relay.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="relay", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    def __enter__(self) -> Relay:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def url(self, url: str) -> str:
        """``url`` (``scheme://user@host:port/db``) with its host and port the relay's."""
        parts = urlsplit(url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def connections(self) -> int:
        return len(self._pairs)

    def cut(self) -> int:
        """Close every relayed connection and stop listening; returns how many were cut."""
        return self._call(self._cut())

    def restore(self) -> None:
        """Listen again (on the same port)."""
        self._call(self._listen())

    # -- on the relay's loop --------------------------------------------------------------------

    def _call(self, coroutine: object) -> int:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(10)  # type: ignore[no-any-return]

    async def _listen(self) -> int:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._relay, "127.0.0.1", self.port, reuse_address=True
            )
        return 0

    async def _cut(self) -> int:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        pairs, self._pairs = list(self._pairs), set()
        for client, upstream in pairs:
            for writer in (client, upstream):
                writer.transport.abort()
        return len(pairs)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        pair = (client_w, up_w)
        self._pairs.add(pair)
        try:
            await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    if not writer.transport.is_closing():
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


@contextmanager
def relay_to(url: str) -> Iterator[Relay]:
    """A :class:`Relay` to the host and port of ``url``."""
    parts = urlsplit(url)
    with Relay(parts.hostname or "127.0.0.1", parts.port or 5432) as relay:
        yield relay


# -- alerts sent through a fault -------------------------------------------------------------------


@dataclass
class Answer:
    at: float
    """``time.monotonic()`` when the answer came."""
    fingerprint: str
    """As stored by the commander: ``generic:<fingerprint>``."""
    status: int
    """The HTTP status; 0 when no answer came (the connection failed)."""
    body: str


class Sender:
    """A thread posting generic alerts to one gateway, one at a time, every ``every_s``,
    until ``stop``: one in ``routed_every`` about a service of the estate (``checkout``), the
    others about no service of it (each joining the burst's triage incident: a few store calls
    for the worker, no graph run). Every fingerprint is new. Records every answer."""

    def __init__(
        self, running: Cluster, prefix: str, *, gateway: int = 0, every_s: float = 0.02,
        routed_every: int = 25,
    ) -> None:  # fmt: skip
        self.running = running
        self.prefix = prefix
        self.gateway = gateway
        self.every_s = every_s
        self.routed_every = routed_every
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sender-{prefix}", daemon=True)

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def accepted(self) -> set[str]:
        return {a.fingerprint for a in self.answers if a.status == 202}

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter[int]:
        return Counter(a.status for a in self.answers if since <= a.at <= until)

    def _run(self) -> None:
        with self.running.client(self.gateway) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                fingerprint = f"{self.prefix}-{n}"
                service = "checkout" if n % self.routed_every == 0 else "not-in-the-estate"
                body = {
                    "title": f"{service} error rate above 5%", "service": service,
                    "severity": "high", "status": "firing", "fingerprint": fingerprint,
                }  # fmt: skip
                try:
                    answer = client.post("/v1/alerts/generic", json=body)
                    status, text = answer.status_code, answer.text
                except httpx.HTTPError as exc:
                    status, text = 0, f"{type(exc).__name__}: {exc}"
                self.answers.append(
                    Answer(time.monotonic(), f"generic:{fingerprint}", status, text)
                )
                self._stop.wait(self.every_s)


def accounted(running: Cluster, like: str = "%") -> set[str]:
    """Fingerprints the audit trail shows as opening or joining an incident, or as unrouted
    (those matching the SQL pattern ``like``). ``data`` is cast: the table keeps it as text."""
    rows = running.sql(
        "SELECT fp FROM ("
        " SELECT CASE WHEN kind = 'alert.unrouted' THEN data::jsonb->>'fingerprint'"
        "  ELSE data::jsonb->'alert'->>'fingerprint' END AS fp FROM ic_audit_log"
        " WHERE kind IN ('incident.opened', 'alert.attached', 'alert.unrouted')"
        ") AS f WHERE fp LIKE %s",
        like,
    )
    return {fp for (fp,) in rows}
