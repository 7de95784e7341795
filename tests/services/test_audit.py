"""The audit trail in a SQLite file, what only the file shows: triggers that refuse UPDATE and
DELETE and come back when dropped, and files that are not an audit trail.

The behaviour the SQLite and Postgres trails share (the chain, keys, threads, tampering found
by ``verify``, subscribers, paging) is tested on both in
``tests/services/pg/test_audit_contract.py``."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from services.audit import AuditRecord, AuditTrail, ChainReport
from services.errors import ConfigurationError


def note(n: int) -> AuditRecord:
    return AuditRecord(actor="commander", kind="note", incident_id="inc-1", data={"n": n})


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to the file, as someone with write access would use."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        yield db


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.sqlite"


@pytest.fixture
def trail(db: Path) -> Iterator[AuditTrail]:
    with AuditTrail(db) as opened:
        yield opened


def test_the_database_refuses_update_and_delete(trail: AuditTrail, db: Path) -> None:
    trail.append([note(1), note(2)])
    with raw(db) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
            conn.execute("UPDATE audit_log SET data = '{}' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
            conn.execute("DELETE FROM audit_log")
    assert trail.verify() == ChainReport(True, 2, None, None)


def test_dropped_guards_are_restored_when_the_file_is_opened(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with AuditTrail(db) as trail:
        trail.append([note(1)])
    with raw(db) as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")

    with caplog.at_level(logging.WARNING, logger="services.audit"), AuditTrail(db):
        pass

    assert "audit_log_no_delete was missing; restored" in caplog.text
    with raw(db) as conn, pytest.raises(sqlite3.IntegrityError, match="DELETE refused"):
        conn.execute("DELETE FROM audit_log")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database, it is a shopping list\n" * 20)
    with pytest.raises(ConfigurationError, match=r"notes\.txt: cannot be used as the audit trail"):
        AuditTrail(path)


def test_another_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with raw(path) as conn:
        conn.execute("CREATE TABLE api_keys (key_id TEXT)")
    before = path.read_bytes()

    with pytest.raises(ConfigurationError, match=r"not an audit trail \(tables api_keys\)"):
        AuditTrail(path)

    assert path.read_bytes() == before  # not even switched to WAL


def test_a_damaged_file_is_refused(db: Path) -> None:
    with AuditTrail(db) as trail:
        trail.append([note(1)])
    with db.open("r+b") as handle:
        handle.write(b"garbage garbage garbage garbage!")  # over the SQLite header

    with pytest.raises(ConfigurationError, match="cannot be used as the audit trail"):
        AuditTrail(db)
