"""The audit trail in Postgres: the SQLite trail's chain and hashes, keys, guards in the
database, tampering found by ``verify``, and appenders in several threads and processes."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from services.audit import AuditEntry, AuditRecord, AuditTrail, ChainReport, entry_hash
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
    trail: PgAuditTrail, tmp_path: Path, raw: Raw
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
    assert entries[0].prev_hash == "0" * 64
    assert trail.after(0) == entries
    assert trail.last_seq() == 5
    assert trail.verify() == ChainReport(ok=True, checked=5, first_bad_seq=None, reason=None)
    rows = raw.execute(
        "SELECT seq, at, actor, kind, incident_id, data, prev_hash, hash FROM ic_audit_log"
        " ORDER BY seq"
    ).fetchall()
    assert rows[0][1] == "2026-03-01T12:00:00.000000+00:00"
    assert rows[1][5] == '{"approve":false,"why":"naïve IAM"}'  # canonical text, as hashed
    for seq, at, actor, kind, inc, data, prev, stored in rows:
        assert entry_hash(seq, at, actor, kind, inc, json.loads(data), prev) == stored


def test_a_stored_key_is_skipped_without_using_a_sequence_number(trail: PgAuditTrail) -> None:
    stored = trail.append([note(1, key="inc-1:vote:0"), note(2), note(3, key="inc-1:vote:0")])
    assert [e.data for e in stored] == [{"n": 1}, {"n": 2}]

    again = trail.append([note(1, key="inc-1:vote:0"), note(4, key="inc-1:vote:1"), note(5)])
    assert [(e.seq, e.data) for e in again] == [(3, {"n": 4}), (4, {"n": 5})]
    assert again[0].prev_hash == stored[-1].hash
    assert trail.append([note(1, key="inc-1:vote:0")]) == []
    assert trail.last_seq() == 4
    assert trail.verify().ok


def test_another_trail_on_the_table_continues_the_chain_and_knows_the_keys(
    new_pool: Any,
) -> None:
    first = PgAuditTrail(new_pool(), clock=ticking_clock())
    before = first.append([note(1, key="k"), note(2)])
    second = PgAuditTrail(new_pool(), clock=ticking_clock(T0 + timedelta(days=1)))

    assert second.append([note(1, key="k")]) == []
    [after] = second.append([note(3)])
    assert after.seq == 3
    assert after.prev_hash == before[-1].hash
    assert first.verify() == ChainReport(True, 3, None, None)


def test_concurrent_appends_make_one_gap_free_chain_delivered_in_order(pool: Pool) -> None:
    delivered: list[int] = []
    committed: list[int] = []
    trail = PgAuditTrail(pool, on_commit=lambda entries: committed.extend(e.seq for e in entries))
    trail.subscribe(lambda entries: delivered.extend(e.seq for e in entries))
    threads, rounds = 6, 15
    start = threading.Barrier(threads + 1)

    def writer(worker: int) -> None:
        start.wait()
        for i in range(rounds):
            trail.append([note(i, f"inc-{worker}"), note(i, f"inc-{worker}", key=f"{worker}:{i}")])

    def reader() -> int:
        start.wait()
        seen = 0
        while seen < threads * rounds * 2:
            batch = trail.after(seen)
            assert [e.seq for e in batch] == list(range(seen + 1, seen + 1 + len(batch)))
            seen += len(batch)
        return seen

    with ThreadPoolExecutor(threads + 1) as workers:
        read = workers.submit(reader)
        for future in [workers.submit(writer, w) for w in range(threads)]:
            future.result()
        assert read.result() == threads * rounds * 2

    total = threads * rounds * 2
    assert [e.seq for e in trail.after(0, limit=total + 1)] == list(range(1, total + 1))
    assert delivered == committed == list(range(1, total + 1))
    assert len(trail.for_incident("inc-3")) == rounds * 2
    assert trail.verify() == ChainReport(True, total, None, None)


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


def _rehash(conn: Raw, seq: int) -> None:
    row = conn.execute(
        "SELECT seq, at, actor, kind, incident_id, data, prev_hash FROM ic_audit_log"
        " WHERE seq = %s",
        (seq,),
    ).fetchone()
    assert row is not None
    seq, at, actor, kind, inc, data, prev = row
    digest = entry_hash(seq, at, actor, kind, inc, json.loads(data), prev)
    conn.execute("UPDATE ic_audit_log SET hash = %s WHERE seq = %s", (digest, seq))


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason"),
    [
        (
            lambda c: c.execute("UPDATE ic_audit_log SET data = '{\"n\":99}' WHERE seq = 3"),
            3,
            "entry 3: hash does not match its contents",
        ),
        (
            lambda c: c.execute("UPDATE ic_audit_log SET actor = 'mallory' WHERE seq = 2"),
            2,
            "entry 2: hash does not match its contents",
        ),
        (
            lambda c: (
                c.execute("UPDATE ic_audit_log SET data = '{\"n\":99}' WHERE seq = 3"),
                _rehash(c, 3),
            ),
            4,
            "entry 4: prev_hash does not match entry 3",
        ),
        (
            lambda c: c.execute("DELETE FROM ic_audit_log WHERE seq = 4"),
            4,
            "entry 4 is missing (gap after 3)",
        ),
        (
            lambda c: c.execute("DELETE FROM ic_audit_log WHERE seq = 1"),
            1,
            "entry 1 is missing (the trail starts at entry 2)",
        ),
        (
            lambda c: c.execute("UPDATE ic_audit_log SET data = 'not json' WHERE seq = 2"),
            2,
            "entry 2: contents cannot be read",
        ),
    ],
    ids=["data", "actor", "rehashed", "deleted", "first-deleted", "garbled"],
)
def test_tampering_as_the_superuser_is_found_and_named(
    trail: PgAuditTrail,
    raw: Raw,
    tamper: Callable[[Raw], object],
    bad_seq: int,
    reason: str,
) -> None:
    trail.append([note(n) for n in range(1, 7)])
    raw.execute("ALTER TABLE ic_audit_log DISABLE TRIGGER USER")
    tamper(raw)

    report = trail.verify()

    assert not report.ok
    assert report.first_bad_seq == bad_seq
    assert report.checked == bad_seq - 1
    assert report.reason is not None
    assert report.reason.startswith(reason)


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


def test_the_hook_and_subscribers_get_new_entries_and_failures_break_nothing(
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

    def broken(entries: list[AuditEntry]) -> None:
        raise RuntimeError("subscriber bug")

    trail.subscribe(broken)
    stop = trail.subscribe(lambda entries: got.append([e.seq for e in entries]))
    with caplog.at_level(logging.ERROR, logger="services.pg.audit"):
        stored = trail.append([note(1, key="a"), note(2)])
    trail.append([note(1, key="a")])  # nothing new: nobody is called
    stop()
    stop()
    trail.append([note(3)])

    assert [e.seq for e in stored] == [2, 3]
    assert got == [[2, 3]]
    assert rung == [[1], [2, 3], [4]]
    assert "RuntimeError: subscriber bug" in caplog.text
    assert "ConnectionError: redis is down" in caplog.text
    assert trail.last_seq() == 4
    trail.close()
    trail.append([note(5)])
    assert rung == [[1], [2, 3], [4]]  # closed: the hook is no longer called


def test_a_subscriber_may_append_and_order_is_kept(trail: PgAuditTrail) -> None:
    seen: list[int] = []

    def react(entries: list[AuditEntry]) -> None:
        if any(e.kind == "decision" for e in entries):
            trail.append([AuditRecord("commander", "action", "inc-1", {"after": entries[-1].seq})])

    trail.subscribe(react)
    trail.subscribe(lambda entries: seen.extend(e.seq for e in entries))

    trail.append([AuditRecord("commander", "decision", "inc-1", {"rule": "auto"})])

    assert seen == [1, 2]
    assert [e.kind for e in trail.after(0)] == ["decision", "action"]


def test_after_and_for_incident_filter_and_page(trail: PgAuditTrail) -> None:
    trail.append([note(1, "inc-1"), note(2, "inc-2"), note(3, None), note(4, "inc-1")])
    trail.append([note(5, "inc-2"), note(6, "inc-1")])

    assert [e.seq for e in trail.after(0, limit=2)] == [1, 2]
    assert [e.seq for e in trail.after(2, limit=2)] == [3, 4]
    assert [e.seq for e in trail.after(6)] == []
    assert [e.seq for e in trail.after(1, incident_id="inc-1")] == [4, 6]
    assert [e.seq for e in trail.after(0, limit=1, incident_id="inc-2")] == [2]
    assert [e.seq for e in trail.for_incident("inc-1")] == [1, 4, 6]
    assert trail.for_incident("inc-9") == []
    with pytest.raises(ValueError, match="limit"):
        trail.after(0, limit=0)


def test_a_batch_is_all_or_nothing(pool: Pool) -> None:
    trail = PgAuditTrail(pool)
    with pytest.raises(TypeError, match=r"records\[1\]\.data\['when'\]: datetime"):
        trail.append([note(1), AuditRecord("commander", "note", "inc-1", {"when": T0})])
    naive = PgAuditTrail(pool, clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        naive.append([note(1, key="k")])
    assert trail.last_seq() == 0
    assert [e.seq for e in trail.append([note(1, key="k")])] == [1]  # the key was not kept
