"""The audit trails' contract, run against the SQLite trail and the Postgres one alike: the hash
chain anyone can recompute from the rows, idempotency keys, other trails on the same entries,
threads, tampering found by ``verify``, subscribers, paging, and data that is not JSON.

What only one trail does is tested beside it: ``tests/services/test_audit.py`` (the file: its
triggers, a file that is not a trail) and ``tests/services/pg/test_audit.py`` (the triggers in
Postgres, the commit hook, appenders in several processes, hashes equal to SQLite's)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import psycopg
import pytest
from psycopg.rows import TupleRow

from services.audit import AuditEntry, AuditRecord, AuditTrail, ChainReport, utcnow
from services.pg.audit import PgAuditTrail
from services.pg.pool import Pool

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Trail: TypeAlias = AuditTrail | PgAuditTrail
OpenTrail = Callable[..., Trail]
"""Opens a trail on the same entries (the same file, or a new pool on the same schema)."""
Row = tuple[Any, ...]
OpenPool = Callable[..., Pool]
Run = Callable[..., list[Row]]


def ticking_clock(start: datetime = T0) -> Callable[[], datetime]:
    """A clock that moves one and a half seconds per call (so microseconds show)."""
    calls = iter(range(1_000_000))
    return lambda: start + timedelta(seconds=1.5 * next(calls))


def note(n: int, incident: str | None = "inc-1", key: str | None = None) -> AuditRecord:
    return AuditRecord(actor="commander", kind="note", incident_id=incident, data={"n": n}, key=key)


def documented_hash(
    seq: int, at: str, actor: str, kind: str, inc: Any, data: Any, prev: str
) -> str:
    """The formula in ``services.audit``'s docstring, written out independently of the module."""
    text = json.dumps(
        [seq, at, actor, kind, inc, data, prev],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Database:
    """The trail's table as someone with write access to the database reaches it, not through
    a trail. ``run(statement, *params)`` returns the statement's rows; statements name the
    table ``audit_log`` and mark parameters ``?``, as in SQLite."""

    run: Run
    drop_guards: Callable[[], None]
    """Get past the triggers that refuse UPDATE and DELETE."""


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The SQLite trail's file (its folder does not exist yet)."""
    return tmp_path / "state" / "audit.sqlite"


@pytest.fixture
def open_trail(backend: str, db: Path, request: pytest.FixtureRequest) -> Iterator[OpenTrail]:
    with ExitStack() as opened:
        if backend == "sqlite":
            yield lambda clock=utcnow: opened.enter_context(AuditTrail(db, clock=clock))
        else:
            new_pool: OpenPool = request.getfixturevalue("new_pool")
            yield lambda clock=utcnow: opened.enter_context(PgAuditTrail(new_pool(), clock=clock))


@pytest.fixture
def trail(open_trail: OpenTrail) -> Trail:
    return open_trail(ticking_clock())


@pytest.fixture
def database(backend: str, db: Path, trail: Trail, request: pytest.FixtureRequest) -> Database:
    """The ``trail`` fixture's table (asking for the trail makes sure the table exists)."""
    if backend == "sqlite":

        def run_sqlite(statement: str, *params: object) -> list[Row]:
            with closing(sqlite3.connect(db, isolation_level=None)) as conn:
                return conn.execute(statement, params).fetchall()

        def drop_sqlite_guards() -> None:
            run_sqlite("DROP TRIGGER audit_log_no_update")
            run_sqlite("DROP TRIGGER audit_log_no_delete")

        return Database(run_sqlite, drop_sqlite_guards)

    raw: psycopg.Connection[TupleRow] = request.getfixturevalue("raw")

    def run_postgres(statement: str, *params: object) -> list[Row]:
        statement = re.sub(r"\baudit_log\b", "ic_audit_log", statement).replace("?", "%s")
        cursor = raw.execute(statement, params or None)  # type: ignore[call-overload]
        return cursor.fetchall() if cursor.description else []

    def drop_postgres_guards() -> None:
        raw.execute("ALTER TABLE ic_audit_log DISABLE TRIGGER USER")

    return Database(run_postgres, drop_postgres_guards)


def test_entries_form_a_chain_that_anyone_can_recompute_from_the_rows(
    trail: Trail, database: Database
) -> None:
    first = trail.append(
        [
            AuditRecord("commander", "incident.opened", "inc-1", {"service": "api", "sev": 1}),
            AuditRecord("security", "vote", "inc-1", {"approve": False, "why": "naïve IAM"}),
        ]
    )
    second = trail.append(
        [AuditRecord("alice", "approval.granted", "inc-1", {"x": [1, 2.5], "big": 10**20})]
    )

    entries = [*first, *second]
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == "0" * 64
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[0].at == T0  # one clock reading per append
    assert entries[1].at == T0
    assert entries[2].at == T0 + timedelta(seconds=1.5)
    assert entries[2].at.tzinfo is not None
    assert entries[2].data == {"x": [1, 2.5], "big": 10**20}
    assert trail.after(0) == entries  # read back exactly as returned
    assert trail.last_seq() == 3
    assert trail.verify() == ChainReport(ok=True, checked=3, first_bad_seq=None, reason=None)

    rows = database.run(
        "SELECT seq, at, actor, kind, incident_id, data, prev_hash, hash FROM audit_log"
        " ORDER BY seq"
    )
    assert rows[0][1] == "2026-03-01T12:00:00.000000+00:00"  # microseconds, even when zero
    assert rows[1][5] == '{"approve":false,"why":"naïve IAM"}'  # canonical JSON text
    assert [stored for *_, stored in rows] == [e.hash for e in entries]
    for seq, at, actor, kind, inc, data, prev, stored in rows:
        assert documented_hash(seq, at, actor, kind, inc, json.loads(data), prev) == stored


def test_a_stored_key_is_skipped_without_using_a_sequence_number(trail: Trail) -> None:
    stored = trail.append([note(1, key="inc-1:vote:0"), note(2), note(3, key="inc-1:vote:0")])
    assert [e.data for e in stored] == [{"n": 1}, {"n": 2}]

    again = trail.append([note(1, key="inc-1:vote:0"), note(4, key="inc-1:vote:1"), note(5)])
    assert [(e.seq, e.data) for e in again] == [(3, {"n": 4}), (4, {"n": 5})]
    assert again[0].prev_hash == stored[-1].hash
    assert trail.append([note(1, key="inc-1:vote:0")]) == []
    assert trail.last_seq() == 4
    assert trail.verify().ok


def test_a_trail_opened_again_continues_the_chain_and_remembers_the_keys(
    open_trail: OpenTrail,
) -> None:
    with open_trail(ticking_clock()) as before_restart:
        before = before_restart.append([note(1, key="k"), note(2)])
    with open_trail(ticking_clock(T0 + timedelta(days=1))) as trail:
        assert trail.append([note(1, key="k")]) == []
        [after] = trail.append([note(3)])
        assert after.seq == 3
        assert after.prev_hash == before[-1].hash
        assert trail.verify() == ChainReport(True, 3, None, None)


def test_another_trail_open_at_once_continues_the_chain_and_knows_the_keys(
    open_trail: OpenTrail,
) -> None:
    first = open_trail(ticking_clock())
    before = first.append([note(1, key="k"), note(2)])
    second = open_trail(ticking_clock(T0 + timedelta(days=1)))

    assert second.append([note(1, key="k")]) == []
    [after] = second.append([note(3)])
    assert after.seq == 3
    assert after.prev_hash == before[-1].hash
    assert first.after(2) == [after]
    assert first.verify() == ChainReport(True, 3, None, None)


def test_concurrent_appends_make_one_gap_free_chain_delivered_in_order(trail: Trail) -> None:
    delivered: list[int] = []
    trail.subscribe(lambda entries: delivered.extend(e.seq for e in entries))
    threads, rounds = 8, 25
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
    assert delivered == list(range(1, total + 1))
    assert len(trail.for_incident("inc-3")) == rounds * 2
    assert trail.verify() == ChainReport(True, total, None, None)


def _rehash(run: Run, seq: int) -> None:
    """Recompute entry ``seq``'s own hash after changing it, as a careful forger would."""
    [row] = run(
        "SELECT seq, at, actor, kind, incident_id, data, prev_hash FROM audit_log WHERE seq = ?",
        seq,
    )
    seq, at, actor, kind, inc, data, prev = row
    digest = documented_hash(seq, at, actor, kind, inc, json.loads(data), prev)
    run("UPDATE audit_log SET hash = ? WHERE seq = ?", digest, seq)


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason"),
    [
        (
            lambda run: run("UPDATE audit_log SET data = '{\"n\":99}' WHERE seq = 3"),
            3,
            "entry 3: hash does not match its contents",
        ),
        (
            lambda run: run("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"),
            2,
            "entry 2: hash does not match its contents",
        ),
        (
            lambda run: run("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000+00:00'"),
            1,
            "entry 1: hash does not match its contents",
        ),
        (
            lambda run: (
                run("UPDATE audit_log SET data = '{\"n\":99}' WHERE seq = 3"),
                _rehash(run, 3),
            ),
            4,
            "entry 4: prev_hash does not match entry 3",
        ),
        (
            lambda run: run("DELETE FROM audit_log WHERE seq = 4"),
            4,
            "entry 4 is missing (gap after 3)",
        ),
        (
            lambda run: run("DELETE FROM audit_log WHERE seq = 1"),
            1,
            "entry 1 is missing (the trail starts at entry 2)",
        ),
        (
            lambda run: run(
                "UPDATE audit_log SET prev_hash = (SELECT hash FROM audit_log WHERE seq = 3)"
                " WHERE seq = 5"
            ),
            5,
            "entry 5: prev_hash does not match entry 4",
        ),
        (
            lambda run: run("UPDATE audit_log SET data = 'not json' WHERE seq = 2"),
            2,
            "entry 2: contents cannot be read",
        ),
    ],
    ids=["data", "actor", "time", "rehashed", "deleted", "first-deleted", "relinked", "garbled"],
)
def test_tampering_past_the_guards_is_found_and_named(
    trail: Trail,
    database: Database,
    tamper: Callable[[Run], object],
    bad_seq: int,
    reason: str,
) -> None:
    trail.append([note(n) for n in range(1, 7)])
    database.drop_guards()
    tamper(database.run)

    report = trail.verify()

    assert not report.ok
    assert report.first_bad_seq == bad_seq
    assert report.checked == bad_seq - 1
    assert report.reason is not None
    assert report.reason.startswith(reason)


def test_subscribers_get_new_entries_only_and_a_failing_one_breaks_nothing(
    trail: Trail, caplog: pytest.LogCaptureFixture
) -> None:
    trail.append([note(0)])  # before anyone subscribed
    got: list[list[int]] = []

    def broken(entries: list[AuditEntry]) -> None:
        raise RuntimeError("subscriber bug")

    trail.subscribe(broken)
    stop = trail.subscribe(lambda entries: got.append([e.seq for e in entries]))

    with caplog.at_level(logging.ERROR, logger="services.audit"):
        stored = trail.append([note(1, key="a"), note(2)])
    trail.append([note(1, key="a")])  # nothing new: nobody is called
    stop()
    stop()  # twice is harmless
    trail.append([note(3)])

    assert [e.seq for e in stored] == [2, 3]
    assert got == [[2, 3]]
    assert "subscriber" in caplog.text
    assert "RuntimeError: subscriber bug" in caplog.text
    assert trail.last_seq() == 4


def test_a_subscriber_may_append_and_order_is_kept(trail: Trail) -> None:
    seen: list[int] = []

    def react(entries: list[AuditEntry]) -> None:
        if any(e.kind == "decision" for e in entries):
            trail.append([AuditRecord("commander", "action", "inc-1", {"after": entries[-1].seq})])

    trail.subscribe(react)
    trail.subscribe(lambda entries: seen.extend(e.seq for e in entries))

    trail.append([AuditRecord("commander", "decision", "inc-1", {"rule": "auto"})])

    assert seen == [1, 2]
    assert [e.kind for e in trail.after(0)] == ["decision", "action"]


def test_after_and_for_incident_filter_and_page(trail: Trail) -> None:
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


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"when": T0}, "records[1].data['when']: datetime is not JSON-serialisable"),
        ({"a": [1, {"b": {1, 2}}]}, "records[1].data['a'][1]['b']: set is not JSON-serialisable"),
        ({"score": float("nan")}, "records[1].data['score']: nan is not JSON"),
        ({"votes": {3: "yes"}}, "records[1].data['votes']: key 3 is not a string"),
    ],
)
def test_data_that_is_not_json_is_refused_naming_the_field(
    trail: Trail, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(TypeError) as raised:
        trail.append([note(1), AuditRecord("commander", "note", "inc-1", data)])
    assert str(raised.value).startswith(field)
    assert trail.last_seq() == 0  # the batch is all or nothing


def test_tuples_and_mappings_are_stored_as_json(trail: Trail) -> None:
    [entry] = trail.append([AuditRecord("commander", "note", None, {"pair": (1, "a")})])
    assert entry.data == {"pair": [1, "a"]}
    assert trail.after(0) == [entry]


def test_a_naive_clock_is_refused_and_nothing_is_stored(open_trail: OpenTrail) -> None:
    naive = open_trail(lambda: datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        naive.append([note(1, key="k")])
    assert naive.last_seq() == 0
    trail = open_trail(ticking_clock())
    assert [e.seq for e in trail.append([note(1, key="k")])] == [1]  # the key was not kept
