"""The commander's durable records, in one SQLite file.

``ActionLedger``: at most one execution per idempotency key, across crashes.

A key (incident, round, candidate) is written as ``started`` in its own committed transaction
before the AWS call and ``done`` after it. A process that dies between the two finds
``started`` on restart and does not call AWS again: the executor then checks AWS state
instead of repeating a call that may have happened.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

LedgerStatus = Literal["started", "done"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    status: LedgerStatus
    result: dict[str, Any] | None


class ActionClaims(Protocol):
    """At most one execution per key, across crashes and processes: this file's SQLite
    ``ActionLedger`` in one process, ``services.pg.ledger.PgActionLedger`` in a cluster."""

    def get(self, key: str) -> LedgerEntry | None: ...

    def begin(self, key: str) -> bool: ...

    def finish(self, key: str, result: dict[str, Any]) -> None: ...


class ChangeHistory(Protocol):
    """The revisions seen per service and the steps they changed at (``ChangeLedger`` or
    ``services.pg.ledger.PgChangeLedger``)."""

    def observe(self, service: str, revision: str, step: int) -> bool | None:
        """Record what ``service`` runs at ``step``: True when that is a change, False when
        not, None at the first sighting of ``service`` (nothing to compare with)."""
        ...

    def record(self, service: str, step: int) -> None:
        """A change of ``service`` at ``step`` learnt otherwise (a deploy dated by AWS)."""
        ...

    def changes(self) -> dict[str, list[int]]: ...


class ActionLedger:
    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS actions ("
            " key TEXT PRIMARY KEY, status TEXT NOT NULL, result TEXT,"
            " created_at TEXT DEFAULT CURRENT_TIMESTAMP)"
        )

    def get(self, key: str) -> LedgerEntry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status, result FROM actions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return LedgerEntry(key, row[0], json.loads(row[1]) if row[1] else None)

    def begin(self, key: str) -> bool:
        """Claim ``key``; False when it was claimed before (by this or an earlier process)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO actions (key, status) VALUES (?, 'started')", (key,)
            )
        return cursor.rowcount == 1

    def finish(self, key: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE actions SET status = 'done', result = ? WHERE key = ?",
                (json.dumps(result, default=str), key),
            )

    def close(self) -> None:
        self._db.close()


class ChangeLedger:
    """The revisions the commander has seen per service of one estate, and the steps they
    changed at.

    Diagnosis weighs a deploy just before an onset; kept here, that history survives a
    restart of the commander. One file may hold the histories of several estates (``estate``:
    the run id), as a state directory does across runs of the embedded demo.
    """

    def __init__(self, path: Path | str, estate: str = "") -> None:
        self.estate = estate
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS estate_revisions (estate TEXT, service TEXT,"
            " revision TEXT, PRIMARY KEY (estate, service))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS estate_changes (estate TEXT, service TEXT, step INTEGER,"
            " PRIMARY KEY (estate, service, step))"
        )

    def observe(self, service: str, revision: str, step: int) -> bool | None:
        """Record what ``service`` runs at ``step``; True when that is a change (None: first
        sighting)."""
        with self._lock:
            row = self._db.execute(
                "SELECT revision FROM estate_revisions WHERE estate = ? AND service = ?",
                (self.estate, service),
            ).fetchone()
            self._db.execute(
                "INSERT INTO estate_revisions (estate, service, revision) VALUES (?, ?, ?)"
                " ON CONFLICT (estate, service) DO UPDATE SET revision = excluded.revision",
                (self.estate, service, revision),
            )
            if row is None:
                return None
            changed = bool(row[0] != revision)
        if changed:
            self.record(service, step)
        return changed

    def record(self, service: str, step: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO estate_changes (estate, service, step) VALUES (?, ?, ?)",
                (self.estate, service, step),
            )

    def changes(self) -> dict[str, list[int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT service, step FROM estate_changes WHERE estate = ? ORDER BY step",
                (self.estate,),
            ).fetchall()
        out: dict[str, list[int]] = {}
        for service, step in rows:
            out.setdefault(service, []).append(int(step))
        return out

    def close(self) -> None:
        self._db.close()
