"""What one process keeps on disk so that nothing it accepted is lost: its state directory.

``serve`` in one process writes everything it must not forget into ``IC_STATE_DIR``
(``.incident-commander/state`` by default; never a temporary folder):

- ``state.sqlite`` (this module): the incident summaries (:class:`SqliteIncidentStore`), the
  accepted-alert inbox (:class:`Inbox`) and the clock of every run that opened incidents;
- ``checkpoints.sqlite``: every incident thread (LangGraph's SQLite checkpointer), for every
  run, so an incident's timeline, votes and actions are served after any restart;
- ``ledger.sqlite``: the action ledger (one execution per key, across crashes) and each
  estate's change history (``orchestrator.ledger``);
- ``llm-spend.sqlite``: what the model cost (``services.llm.budget``).

The audit trail and the API keys keep their own files (``IC_AUDIT_DB``, ``IC_API_KEYS_DB``).

Durability. A delivery is answered 202 only once :meth:`Inbox.accept` has committed it
(``synchronous=FULL`` in WAL mode: on disk, not in a page cache). The worker takes alerts from the
inbox in order and deletes them only once the commander has ingested them, its thread
checkpoints written: a ``kill -9`` between the two hands the same alerts to the next process,
and the commander's ingestion of an alert it has seen is idempotent (the same thread, or a join).

Runs. An incident belongs to the run that opened it (``run_id``: an estate file's name, stable
across restarts, or a new id each time the embedded demo builds its simulated estate). The store
records each run's clock, so the views of an incident of an earlier run keep its own times.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from orchestrator.context import Clock
from orchestrator.intake import Signal
from orchestrator.store import (
    MemoryIncidentStore,
    check_times,
    summary_from_json,
    summary_to_json,
)  # fmt: skip
from orchestrator.summary import IncidentSummary
from services.errors import OverloadedError

STATE_FILE = "state.sqlite"
CHECKPOINTS_FILE = "checkpoints.sqlite"
LEDGER_FILE = "ledger.sqlite"
SPEND_FILE = "llm-spend.sqlite"


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL, every commit synced to disk."""
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


class SqliteIncidentStore(MemoryIncidentStore):
    """Incident summaries kept in ``state.sqlite`` and served from memory.

    One process owns the file, so every read is answered from the in-memory copy loaded at open
    (paged as :class:`~orchestrator.store.MemoryIncidentStore` pages) and every :meth:`put` is
    written through before it is visible.
    """

    def __init__(self, path: Path, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self._db_lock = threading.Lock()
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS incidents ("
            " id TEXT PRIMARY KEY, run_id TEXT NOT NULL, summary TEXT NOT NULL)"
        )
        self._runs: dict[str, str] = {}
        for incident_id, run, blob in self._db.execute("SELECT id, run_id, summary FROM incidents"):
            super().put(summary_from_json(json.loads(blob)))
            self._runs[incident_id] = run

    def put(self, summary: IncidentSummary) -> None:
        check_times(summary)
        blob = json.dumps(summary_to_json(summary))
        with self._db_lock:
            run = self._runs.setdefault(summary.id, self.run_id)
            self._db.execute(
                "INSERT INTO incidents (id, run_id, summary) VALUES (?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET summary = excluded.summary",
                (summary.id, run, blob),
            )
            super().put(summary)

    def run_of(self, incident_id: str) -> str | None:
        with self._db_lock:
            return self._runs.get(incident_id)

    def open_ids(self, *, this_run: bool) -> list[str]:
        """Unfinished incidents of this run (``this_run``) or of every other run."""
        with self._db_lock:
            runs = dict(self._runs)
        return [
            incident_id
            for incident_id, run in runs.items()
            if (run == self.run_id) == this_run
            and (summary := self.get(incident_id)) is not None
            and not summary.finished
        ]

    def ids(self) -> list[str]:
        """Every incident of this run."""
        with self._db_lock:
            return [i for i, run in self._runs.items() if run == self.run_id]

    def close(self) -> None:
        self._db.close()


class RunClocks:
    """The clock of every run, by ``run_id``: an incident's times are those of its own run."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS runs ("
            " run_id TEXT PRIMARY KEY, start TEXT NOT NULL, step_s INTEGER NOT NULL,"
            " last_step INTEGER NOT NULL DEFAULT 0)"
        )

    def record(self, run_id: str, clock: Clock) -> None:
        self._db.execute(
            "INSERT INTO runs (run_id, start, step_s, last_step) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET last_step = excluded.last_step",
            (run_id, clock.start.isoformat(), clock.step_s, clock.step),
        )

    def clock(self, run_id: str) -> Clock | None:
        """``run_id``'s clock, standing at the last step it recorded."""
        row = self._db.execute(
            "SELECT start, step_s, last_step FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            return None
        return Clock(start=datetime.fromisoformat(row[0]), step_s=int(row[1]), step=int(row[2]))

    def close(self) -> None:
        self._db.close()


class Inbox:
    """Alerts accepted and not yet ingested, in ``state.sqlite``, in the order they came."""

    def __init__(self, path: Path, max_queued: int) -> None:
        self.max_queued = max_queued
        self._lock = threading.Lock()
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS inbox ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT, signal TEXT NOT NULL,"
            " accepted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )
        (self._pending,) = self._db.execute("SELECT count(*) FROM inbox").fetchone()

    def __len__(self) -> int:
        return int(self._pending)

    def accept(self, signals: Sequence[Signal]) -> None:
        """Commit ``signals`` to disk; ``OverloadedError`` (and nothing kept) when the inbox
        would hold more than ``max_queued``: the sender, told to retry, keeps them."""
        rows = [(json.dumps(asdict(s), default=str),) for s in signals]
        with self._lock:
            if self._pending + len(rows) > self.max_queued:
                raise OverloadedError(
                    f"the commander has {self._pending} alerts queued (limit {self.max_queued})"
                )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO inbox (signal) VALUES (?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._pending += len(rows)

    def peek(self, limit: int = 500) -> list[tuple[int, Signal]]:
        """The oldest ``limit`` alerts still to ingest, with their sequence numbers."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, signal FROM inbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(int(seq), Signal(**json.loads(blob))) for seq, blob in rows]

    def done(self, seqs: Sequence[int]) -> None:
        """Forget alerts the commander has ingested (or recorded as failed)."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM inbox WHERE seq = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")
            (self._pending,) = self._db.execute("SELECT count(*) FROM inbox").fetchone()

    def close(self) -> None:
        self._db.close()
