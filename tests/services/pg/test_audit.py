"""The audit trail in Postgres, what the SQLite trail has no counterpart for: hashes equal to
the SQLite trail's, appenders in several processes, the guards in the database, and the commit
hook. The behaviour both trails share is tested in ``test_audit_contract.py``."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from services.audit import AuditEntry, AuditRecord, AuditTrail, ChainReport
from services.pg.audit import PgAuditTrail
from services.pg.pool import Pool

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Raw = psycopg.Connection[TupleRow]

APPENDER = """
import sys, threading
from services.audit import AuditRecord
from services.pg.audit import PgAuditTrail
from services.pg.pool import open_pool

url, schema, worker, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open_pool(url, schema=schema, max_size=2) as pool:
    trail = PgAuditTrail(pool)
    print("ready", flush=True)
    sys.stdin.readline()

    def write(thread):
        for i in range(rounds):
            inc = f"inc-{worker}-{thread}"
            trail.append([AuditRecord("commander", "note", inc, {"i": i}),
                          AuditRecord("commander", "note", inc, {"i": i}, key=f"{inc}:{i}")])

    threads = [threading.Thread(target=write, args=(t,)) for t in range(2)]
    for t in threads: t.start()
    for t in threads: t.join()
"""


def ticking_clock(start: datetime = T0) -> Callable[[], datetime]:
    calls = iter(range(1_000_000))
    return lambda: start + timedelta(seconds=1.5 * next(calls))


def note(n: int, incident: str | None = "inc-1", key: str | None = None) -> AuditRecord:
    return AuditRecord(actor="commander", kind="note", incident_id=incident, data={"n": n}, key=key)


@pytest.fixture
def trail(pool: Pool) -> PgAuditTrail:
    return PgAuditTrail(pool, clock=ticking_clock())


def test_entries_and_hashes_are_those_the_sqlite_trail_makes(
    trail: PgAuditTrail, tmp_path: Path
) -> None:
    batches = [
        [
            AuditRecord("commander", "incident.opened", "inc-1", {"service": "api", "sev": 1}),
            AuditRecord("security", "vote", "inc-1", {"approve": False, "why": "naïve IAM"}),
        ],
        [AuditRecord("alice", "approval.granted", "inc-1", {"x": [1, 2.5], "big": 10**20})],
        [note(1, key="k"), note(2, None), note(3, key="k")],
    ]
    with AuditTrail(tmp_path / "audit.sqlite", clock=ticking_clock()) as sqlite:
        expected = [entry for batch in batches for entry in sqlite.append(batch)]

    entries = [entry for batch in batches for entry in trail.append(batch)]

    assert entries == expected  # same seq, times, data, prev_hash and hash
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert trail.after(0) == expected
    assert trail.verify() == ChainReport(ok=True, checked=5, first_bad_seq=None, reason=None)


def test_appenders_in_several_processes_make_one_verified_chain(
    postgres: str, schema: str, trail: PgAuditTrail
) -> None:
    workers, rounds = 3, 12
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, postgres, schema, str(w), str(rounds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        errors = [proc.communicate(timeout=120)[1] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(proc.returncode == 0 for proc in procs), errors

    total = workers * 2 * rounds * 2
    entries = trail.after(0, limit=total + 1)
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert trail.verify() == ChainReport(True, total, None, None)
    assert len({e.incident_id for e in entries}) == workers * 2
    assert trail.append([note(0, "inc-0-0", key="inc-0-0:0")]) == []  # keys from every process


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE ic_audit_log SET data = '{}' WHERE seq = 1", "UPDATE"),
        ("DELETE FROM ic_audit_log", "DELETE"),
        ("TRUNCATE ic_audit_log", "TRUNCATE"),
    ],
)
def test_the_database_refuses_to_change_the_trail(
    trail: PgAuditTrail, raw: Raw, statement: str, operation: str
) -> None:
    trail.append([note(1), note(2)])
    with pytest.raises(psycopg.errors.RaiseException, match=f"append-only: {operation} refused"):
        raw.execute(statement)  # type: ignore[call-overload]
    assert trail.verify() == ChainReport(True, 2, None, None)


def test_dropped_or_disabled_guards_are_put_back_when_a_trail_opens(
    pool: Pool, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    PgAuditTrail(pool).append([note(1)])
    raw.execute("DROP TRIGGER ic_audit_log_no_delete ON ic_audit_log")
    raw.execute("ALTER TABLE ic_audit_log DISABLE TRIGGER ic_audit_log_no_update")

    with caplog.at_level(logging.WARNING, logger="services.pg.audit"):
        PgAuditTrail(pool)

    assert "ic_audit_log_no_delete was missing; restored" in caplog.text
    assert "ic_audit_log_no_update was disabled; enabled again" in caplog.text
    with pytest.raises(psycopg.errors.RaiseException, match="DELETE refused"):
        raw.execute("DELETE FROM ic_audit_log")
    with pytest.raises(psycopg.errors.RaiseException, match="UPDATE refused"):
        raw.execute("UPDATE ic_audit_log SET actor = 'x'")


def test_the_commit_hook_gets_each_new_batch_until_closed_and_its_failure_breaks_nothing(
    pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    rung: list[list[int]] = []

    def ring(entries: list[AuditEntry]) -> None:
        rung.append([e.seq for e in entries])
        if len(rung) == 2:
            raise ConnectionError("redis is down")

    trail = PgAuditTrail(pool, on_commit=ring)
    trail.append([note(0)])
    got: list[list[int]] = []
    trail.subscribe(lambda entries: got.append([e.seq for e in entries]))
    with caplog.at_level(logging.ERROR, logger="services.audit"):
        stored = trail.append([note(1, key="a"), note(2)])
    trail.append([note(1, key="a")])  # nothing new: the hook is not called
    trail.append([note(3)])

    assert [e.seq for e in stored] == [2, 3]
    assert rung == [[1], [2, 3], [4]]
    assert got == [[2, 3], [4]]  # the hook failed on 2-3: the subscriber had them all the same
    assert "ConnectionError: redis is down" in caplog.text
    assert trail.last_seq() == 4
    trail.close()
    trail.append([note(5)])
    assert rung == [[1], [2, 3], [4]]  # closed: the hook is no longer called


def test_the_commit_hook_gets_every_entry_in_order_when_threads_append_at_once(
    pool: Pool,
) -> None:
    committed: list[int] = []
    delivered: list[int] = []
    trail = PgAuditTrail(pool, on_commit=lambda entries: committed.extend(e.seq for e in entries))
    trail.subscribe(lambda entries: delivered.extend(e.seq for e in entries))
    threads, rounds = 6, 15
    start = threading.Barrier(threads)

    def writer(worker: int) -> None:
        start.wait()
        for i in range(rounds):
            trail.append([note(i, f"inc-{worker}"), note(i, f"inc-{worker}")])

    with ThreadPoolExecutor(threads) as workers:
        for future in [workers.submit(writer, w) for w in range(threads)]:
            future.result()

    assert committed == delivered == list(range(1, threads * rounds * 2 + 1))
