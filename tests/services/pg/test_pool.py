"""The pool when PostgreSQL is away: a clear error soon, never a hang, and recovery without a
restart once it is back. The shared server cannot be stopped, so a TCP relay on loopback
stands in for it going away and coming back; ``pg_terminate_backend`` drops connections."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg.rows import TupleRow

from orchestrator.summary import IncidentSummary
from services.audit import AuditRecord
from services.errors import ConfigurationError, OverloadedError, StoreUnavailableError
from services.pg.audit import PgAuditTrail
from services.pg.incidents import PgIncidentStore
from services.pg.ledger import PgActionLedger
from services.pg.pool import open_pool

T = TypeVar("T")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SUMMARY = IncidentSummary(
    id="inc-1", status="open", severity="sev2", title="checkout errors", services=("checkout",),
    opened_at=T0, updated_at=T0, alerts=1, acknowledged_by=None, pending_approval=None,
    time_to_detect_s=None, time_to_resolve_s=None,
)  # fmt: skip


class Relay:
    """Forwards loopback connections on ``port`` to the PostgreSQL server until ``cut``: then
    the port refuses connections and every relayed one is dropped, as when the server dies.
    ``mend`` listens on the same port again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def mend(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(self.upstream, timeout=3)
            except OSError:
                return
            server.settimeout(None)
            with self._lock:
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def relay(postgres: str) -> Iterator[Relay]:
    info = psycopg.conninfo.conninfo_to_dict(postgres)
    opened = Relay((str(info.get("host", "127.0.0.1")), int(info.get("port", 5432))))
    opened.mend()
    yield opened
    opened.cut()


def via(postgres: str, port: int) -> str:
    info = psycopg.conninfo.conninfo_to_dict(postgres)
    info.update(host="127.0.0.1", port=port)
    return psycopg.conninfo.make_conninfo(**info)


def eventually(call: Callable[[], T], within: float) -> T:
    """``call``'s result once it stops raising StoreUnavailableError, within ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        try:
            return call()
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_that_is_not_there_is_reported_at_once(schema: str) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as raised:
        open_pool(f"postgresql://postgres@127.0.0.1:{closed_port()}/test", schema=schema)

    assert time.monotonic() - started < 2.0
    assert isinstance(raised.value, OverloadedError)  # the gateway's 503
    assert raised.value.retry_after >= 1
    assert str(raised.value).startswith("pool incident-commander: PostgreSQL is unavailable:")
    assert "refused" in str(raised.value)


def test_settings_that_cannot_work_are_refused(postgres: str) -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        open_pool(postgres, schema="x; DROP TABLE ic_incidents")
    with pytest.raises(ConfigurationError, match="timeout"):
        open_pool(postgres, timeout=0)
    with pytest.raises(ConfigurationError, match="URL cannot be read"):
        open_pool("postgresql://u:secret@127.0.0.1/test?no_such_option=1")


def test_calls_fail_within_the_timeout_while_the_server_is_away_and_work_when_it_is_back(
    postgres: str, relay: Relay, new_pool: Any
) -> None:
    pool = new_pool(url=via(postgres, relay.port), timeout=1.0, max_size=2)
    store = PgIncidentStore(pool, estate="est-a")
    ledger = PgActionLedger(pool, estate="est-a")
    store.put(SUMMARY)

    relay.cut()
    for call in (lambda: store.get("inc-1"), lambda: ledger.begin("k"), lambda: store.put(SUMMARY)):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as raised:
            call()
        assert time.monotonic() - started < 3.0  # the pool's timeout, not forever
        assert raised.value.store in {"incident store", "action ledger"}

    relay.mend()

    assert eventually(lambda: store.get("inc-1"), within=15) == SUMMARY
    assert ledger.begin("k")  # the claim made while the server was away never happened


def test_connections_the_server_dropped_are_replaced_before_use(
    postgres: str, schema: str, new_pool: Any
) -> None:
    name = f"{schema}_dropped"
    pool = new_pool(url=f"{postgres}?application_name={name}", min_size=2, max_size=2)
    store = PgIncidentStore(pool, estate="est-a")
    store.put(SUMMARY)
    pool.wait(timeout=5)  # both connections open
    with psycopg.connect(postgres, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (name,),
        ).fetchone()
    assert killed == (2,)

    assert [store.get("inc-1") for _ in range(4)] == [SUMMARY] * 4  # no call sees the drop


def test_an_append_that_cannot_get_the_trails_lock_gives_up_within_the_timeout(
    postgres: str, schema: str, new_pool: Any
) -> None:
    trail = PgAuditTrail(new_pool(timeout=1.0))
    trail.append([AuditRecord("commander", "note", None, {"n": 1})])
    stuck: psycopg.Connection[TupleRow]
    with psycopg.connect(postgres, options=f"-c search_path={schema}") as stuck:
        stuck.execute(
            "SELECT pg_advisory_xact_lock(%s, ('ic_audit_log'::regclass::oid::bigint"
            " - 2147483648)::int)",
            (0x49434154,),
        )  # another process, stuck in the middle of an append
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=r"audit trail: .*lock timeout"):
            trail.append([AuditRecord("commander", "note", None, {"n": 2})])
        assert time.monotonic() - started < 3.0
        stuck.rollback()

    assert [e.seq for e in trail.append([AuditRecord("commander", "note", None, {"n": 2})])] == [2]
    assert trail.verify().ok
