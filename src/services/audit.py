"""The audit trail: an append-only, hash-chained record of what the commander saw, decided and did.

It is also the commander's event log: the gateway streams entries to browsers over SSE by
sequence number and replays from ``Last-Event-ID`` with :meth:`AuditTrail.after`.

The chain
---------
Entries are numbered 1, 2, 3, ... without gaps. Each stores ``prev_hash``, the hash of the entry
before it (64 zeros for entry 1), and its own ``hash``::

    hash = sha256(canonical([seq, at, actor, kind, incident_id, data, prev_hash])).hexdigest()

``canonical`` is ``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8; ``at`` is the text stored in the row, ISO 8601 in UTC with microseconds
(``2026-03-01T12:00:00.000000+00:00``, which is ``at.isoformat(timespec="microseconds")``: plain
``isoformat()`` drops zero microseconds). ``data`` is stored as canonical JSON text, so a row read
back by this module, or by ``sqlite3`` and ten lines of Python, gives the same hash.

What ``verify`` proves, and what it cannot
------------------------------------------
:meth:`AuditTrail.verify` walks every entry, recomputing each hash and checking each link. When it
passes, no entry has been changed, removed or inserted in the middle of the chain, short of
rewriting every entry after it: changing entry 7 changes its hash, which entry 8 records. It
cannot see

- a trail cut short at its end (the last entries deleted): what remains is a valid chain;
- a trail rewritten from some entry on: the hashes are neither secret nor signed, so anyone who
  can write the file can recompute every one of them.

The triggers below stop accidents and careless tools, not someone holding the file. To make the
chain evidence, anchor its head where the writer cannot reach: record ``(seq, hash)`` of the
latest entry periodically somewhere else (a log pipeline, an object store with a retention
lock, the incident ticket); ``incident-commander audit verify`` prints it. An anchored hash that
``verify`` still finds in a valid chain proves every entry up to it.

Append-only in the database too
-------------------------------
Triggers abort every ``UPDATE`` and ``DELETE`` of the table; when the file is opened without them
(someone dropped them) they are put back, with a warning. The idempotency key column is
``UNIQUE`` (many NULLs allowed): a record whose key is stored already is skipped, so writing an
incident's history again after a restart stores nothing twice.

Threads and processes
---------------------
One connection (``check_same_thread=False``) behind a ``threading.Lock``. SQLite lets one writer
in at a time whatever the number of connections, and an append is a handful of small inserts,
so connections per thread would buy no throughput; they would also outlive ``close()`` in the
threads that opened them. The lock makes "read the head, insert after it" atomic in the
process. Between processes (``audit verify`` while the server appends) the file runs in WAL
mode, so readers never block the writer, and every append starts with ``BEGIN IMMEDIATE``, taking
the write lock before it reads the head: two processes appending still make one chain.
``verify`` reads in pages and lets go of the lock between them, so a long walk does not stall
appends.

Subscribers are called outside the lock, each batch once, in sequence order even when several
threads append at once (an SSE stream relies on that); when ``append`` returns, its batch has
been delivered. A subscriber may append; its batch is delivered after the current one. A
subscriber sees this process's appends only.

A file that is not an audit trail (another SQLite database, something that is not SQLite at all,
a damaged header) is refused with :class:`~services.errors.ConfigurationError`. Damage deeper in
the file surfaces when the entry is read: ``verify`` reports it as the first bad entry.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from services.errors import ConfigurationError

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
"""``prev_hash`` of entry 1."""

_APPLICATION_ID = 0x49434154  # "ICAT" in the SQLite header: this file is an audit trail
_SCHEMA_VERSION = 1
_PAGE = 1000
_COLUMNS = "seq, at, actor, kind, incident_id, data, prev_hash, hash"
_TABLE = """
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    incident_id TEXT,
    data        TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    idem_key    TEXT UNIQUE
)"""
_GUARDS = {
    "audit_log_no_update": "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "audit_log_no_delete": "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
    "audit_log_by_incident": "CREATE INDEX audit_log_by_incident ON audit_log (incident_id, seq)",
}
_Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What callers append. ``data`` must be JSON: str keys; str, int, float (finite), bool,
    None, lists, tuples and mappings of those. ``key``: a record whose key is stored is skipped."""

    actor: str
    kind: str
    incident_id: str | None
    data: Mapping[str, Any]
    key: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry, as read back."""

    seq: int
    at: datetime
    actor: str
    kind: str
    incident_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (``at`` exactly as stored and hashed)."""
        return {
            "seq": self.seq,
            "at": at_text(self.at),
            "actor": self.actor,
            "kind": self.kind,
            "incident_id": self.incident_id,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :meth:`AuditTrail.verify`. ``checked`` counts the entries found good, in
    order, before the first bad one (all of them when ``ok``)."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` that is hashed and stored."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(
    seq: int,
    at: str,
    actor: str,
    kind: str,
    incident_id: str | None,
    data: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The hex SHA-256 of an entry; ``at`` is the stored text (see the module docstring)."""
    payload = canonical_json([seq, at, actor, kind, incident_id, data, prev_hash])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def utcnow() -> datetime:
    """The default clock of a trail: wall time in UTC."""
    return datetime.now(UTC)


def at_text(at: datetime) -> str:
    """``at`` as the text stored and hashed (see the module docstring)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _plain(value: Any, field: str) -> Any:
    """``value`` as plain JSON types; ``TypeError`` naming the first field that is not JSON."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{field}: {value!r} is not JSON (no NaN or infinity)")
        return value
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{field}: key {key!r} is not a string")
            plain[key] = _plain(item, f"{field}[{key!r}]")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{field}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{field}: {type(value).__name__} is not JSON-serialisable")


Prepared = tuple[AuditRecord, str, dict[str, Any]]
"""A record ready to store: itself, its data as canonical text, and as read back from it."""


def prepare_record(index: int, record: AuditRecord) -> Prepared:
    """A record with its data as canonical text and as read back from that text."""
    field = f"records[{index}].data"
    if not isinstance(record.data, Mapping):
        raise TypeError(f"{field}: expected a mapping, got {type(record.data).__name__}")
    text = canonical_json(_plain(record.data, field))
    return record, text, json.loads(text)


def entry_from_row(row: _Row) -> AuditEntry:
    """An entry from a row of ``seq, at, actor, kind, incident_id, data, prev_hash, hash``."""
    seq, at, actor, kind, incident_id, data, prev_hash, hash_ = row
    return AuditEntry(
        seq=seq,
        at=datetime.fromisoformat(at),
        actor=actor,
        kind=kind,
        incident_id=incident_id,
        data=json.loads(data),
        prev_hash=prev_hash,
        hash=hash_,
    )


def row_problem(row: _Row, expected_seq: int, prev_hash: str) -> str | None:
    """Why ``row`` cannot follow an entry whose hash is ``prev_hash``; ``None`` if it can."""
    seq, at, actor, kind, incident_id, data, stored_prev, stored_hash = row
    if seq != expected_seq:
        if expected_seq == 1:
            return f"entry 1 is missing (the trail starts at entry {seq})"
        return f"entry {expected_seq} is missing (gap after {expected_seq - 1})"
    if stored_prev != prev_hash:
        if seq == 1:
            return "entry 1: prev_hash is not the genesis value (64 zeros)"
        return f"entry {seq}: prev_hash does not match entry {seq - 1}"
    try:
        datetime.fromisoformat(at)
        recomputed = entry_hash(seq, at, actor, kind, incident_id, json.loads(data), stored_prev)
    except (TypeError, ValueError) as exc:
        return f"entry {seq}: contents cannot be read ({exc})"
    if recomputed != stored_hash:
        return f"entry {seq}: hash does not match its contents"
    return None


Batch = Callable[[list[AuditEntry]], None]
"""What subscribers receive: entries just appended, in sequence order."""


class Subscribers:
    """Who hears of new entries, and the batches waiting for them (every trail, and every
    gateway's view of a trail other processes append to, deliver through one of these).

    The appender ``queue``s a batch while it still holds its own lock, so batches wait in
    sequence order, then calls ``deliver`` without it: one thread at a time hands every
    waiting batch, oldest first, to ``first`` (a hook, such as a doorbell) and then to each
    subscriber. A callback that raises is logged and keeps its subscription; one that appends
    from inside its callback finds its batch delivered next, not recursively.
    """

    def __init__(self, first: Batch | None = None) -> None:
        self._first = first
        self._hub = threading.Lock()  # the callbacks and the batches waiting for them
        self._delivery = threading.Lock()  # one thread delivers at a time, in order
        self._delivering: int | None = None
        self._callbacks: dict[int, Batch] = {}
        self._tokens = itertools.count()
        self._pending: deque[list[AuditEntry]] = deque()

    def subscribe(self, callback: Batch) -> Callable[[], None]:
        with self._hub:
            token = next(self._tokens)
            self._callbacks[token] = callback

        def unsubscribe() -> None:
            with self._hub:
                self._callbacks.pop(token, None)

        return unsubscribe

    def clear(self) -> None:
        """No one hears of new entries any more (the hook included)."""
        with self._hub:
            self._callbacks.clear()
            self._first = None

    def queue(self, batch: list[AuditEntry]) -> None:
        with self._hub:
            self._pending.append(batch)

    def deliver(self) -> None:
        if self._delivering == threading.get_ident():
            return  # a callback appended: the loop below delivers that batch next
        with self._delivery:
            self._delivering = threading.get_ident()
            try:
                while True:
                    with self._hub:
                        if not self._pending:
                            return
                        batch = self._pending.popleft()
                        first = [] if self._first is None else [self._first]
                        callbacks = first + list(self._callbacks.values())
                    for callback in callbacks:
                        try:
                            callback(list(batch))
                        except Exception:
                            logger.exception(
                                "audit trail subscriber %r failed on entries %d-%d",
                                callback,
                                batch[0].seq,
                                batch[-1].seq,
                            )
            finally:
                self._delivering = None


class BaseTrail(ABC):
    """What the two stores of the trail share (:class:`AuditTrail` here and
    ``services.pg.audit.PgAuditTrail``): appending, verifying and subscribing, over the writes
    and reads each makes in its own database. A subclass sets the attributes below."""

    _clock: Callable[[], datetime]
    _lock: threading.Lock  # held while storing, so that batches queue in sequence order
    _subscribers: Subscribers
    _UNREADABLE: ClassVar[tuple[type[Exception], ...]] = ()
    """Errors reading a page that :meth:`verify` reports as the next entry's problem."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Store ``records`` in one transaction, all or none; return the entries stored (records
        whose key was stored already are skipped), in order, after handing them to the hook, if
        any, and every subscriber. ``TypeError`` naming the field when a record's data is not
        JSON."""
        prepared = [prepare_record(index, record) for index, record in enumerate(records)]
        if not prepared:
            return []
        with self._lock:
            stored = self._store(prepared)
            if stored:
                self._subscribers.queue(stored)  # under the lock: in seq order
        if stored:
            self._subscribers.deliver()
        return stored

    def verify(self) -> ChainReport:
        """Walk the whole chain, recomputing every hash; stop at the first bad entry. Reads in
        pages, holding nothing appends need between them."""
        checked, prev_hash = 0, GENESIS_HASH
        while True:
            try:
                rows = self._page(checked, _PAGE)
            except self._UNREADABLE as exc:
                reason = f"entry {checked + 1}: cannot be read ({exc})"
                return ChainReport(False, checked, checked + 1, reason)
            if not rows:
                return ChainReport(True, checked, None, None)
            for row in rows:
                problem = row_problem(row, checked + 1, prev_hash)
                if problem is not None:
                    return ChainReport(False, checked, checked + 1, problem)
                checked, prev_hash = row[0], row[7]

    def subscribe(self, callback: Batch) -> Callable[[], None]:
        """Call ``callback`` with every batch of new entries from now on; return the function
        that stops it. A callback that raises is logged and keeps its subscription."""
        return self._subscribers.subscribe(callback)

    def _now(self) -> str:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError(f"the audit trail's clock returned a naive datetime: {now!r}")
        return at_text(now)

    @abstractmethod
    def _store(self, prepared: list[Prepared]) -> list[AuditEntry]:
        """Insert ``prepared`` after the head in one transaction; return the entries stored.
        The caller holds ``_lock``."""

    @abstractmethod
    def _page(self, seq: int, limit: int) -> Sequence[_Row]:
        """Up to ``limit`` rows after entry ``seq``, ascending, as stored."""


class AuditTrail(BaseTrail):
    """The audit trail in one SQLite file; safe to share between threads.

    ``clock`` returns the current time, timezone-aware; tests pass their own.
    """

    _UNREADABLE = (sqlite3.DatabaseError,)  # damage deep in the file: verify names the entry

    def __init__(self, path: Path | str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()  # the connection
        self._subscribers = Subscribers()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"{self.path}: cannot open the audit trail: {exc}") from exc
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            hint = "" if isinstance(exc, sqlite3.OperationalError) else " (damaged, or not SQLite)"
            raise ConfigurationError(
                f"{self.path}: cannot be used as the audit trail: {exc}{hint}"
            ) from exc
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def after(
        self, seq: int, *, limit: int = 1000, incident_id: str | None = None
    ) -> list[AuditEntry]:
        """Up to ``limit`` entries with a sequence number above ``seq``, ascending; only
        ``incident_id``'s when given."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if incident_id is None:
            return self._select("WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return self._select(
            "WHERE seq > ? AND incident_id = ? ORDER BY seq LIMIT ?", (seq, incident_id, limit)
        )

    def for_incident(self, incident_id: str) -> list[AuditEntry]:
        """Every entry of ``incident_id``, ascending."""
        return self._select("WHERE incident_id = ? ORDER BY seq", (incident_id,))

    def last_seq(self) -> int:
        """The sequence number of the latest entry; 0 when the trail is empty."""
        with self._lock:
            return self._head()[0]

    # -- internals -----------------------------------------------------------------------------

    def _open(self) -> None:
        app_id, tables = self._identify()
        if app_id != _APPLICATION_ID and (app_id or tables):  # look before writing anything
            raise self._not_ours(app_id, tables)
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._transaction():
            app_id, tables = self._identify()  # again, now that no one else can write
            if app_id == 0 and not tables:
                self._db.execute(_TABLE)
                for sql in _GUARDS.values():
                    self._db.execute(sql)
                self._db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                return
            if app_id != _APPLICATION_ID:
                raise self._not_ours(app_id, tables)
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version != _SCHEMA_VERSION:
                raise ConfigurationError(
                    f"{self.path}: audit trail format {version}; this commander reads format "
                    f"{_SCHEMA_VERSION}"
                )
            if "audit_log" not in tables:
                raise ConfigurationError(f"{self.path}: the audit trail's table has been removed")
            present = {
                name
                for (name,) in self._db.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('trigger', 'index')"
                )
            }
            for name, sql in _GUARDS.items():
                if name not in present:
                    logger.warning("audit trail %s: %s was missing; restored", self.path, name)
                    self._db.execute(sql)

    def _identify(self) -> tuple[int, set[str]]:
        (app_id,) = self._db.execute("PRAGMA application_id").fetchone()
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return app_id, {name for (name,) in rows}

    def _not_ours(self, app_id: int, tables: set[str]) -> ConfigurationError:
        what = f"tables {', '.join(sorted(tables))}" if tables else f"application id {app_id:#x}"
        return ConfigurationError(
            f"{self.path}: a SQLite database but not an audit trail ({what}); "
            "point IC_AUDIT_DB or --db at an audit trail, or at a path that does not exist yet"
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _store(self, prepared: list[Prepared]) -> list[AuditEntry]:
        stored: list[AuditEntry] = []
        with self._transaction():
            at = self._now()
            seq, prev_hash = self._head()
            for record, text, data in prepared:
                entry = self._insert(seq + 1, at, record, text, data, prev_hash)
                if entry is not None:  # None: the key is stored already
                    stored.append(entry)
                    seq, prev_hash = entry.seq, entry.hash
        return stored

    def _head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the latest entry; the caller holds the lock."""
        row = self._db.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (0, GENESIS_HASH) if row is None else (row[0], row[1])

    def _insert(
        self, seq: int, at: str, record: AuditRecord, text: str, data: dict[str, Any], prev: str
    ) -> AuditEntry | None:
        """Insert entry ``seq``; ``None`` when the record's key is stored already."""
        actor, kind, incident_id = record.actor, record.kind, record.incident_id
        digest = entry_hash(seq, at, actor, kind, incident_id, data, prev)
        cursor = self._db.execute(
            f"INSERT INTO audit_log ({_COLUMNS}, idem_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idem_key) DO NOTHING",
            (seq, at, actor, kind, incident_id, text, prev, digest, record.key),
        )
        if cursor.rowcount == 0:
            return None
        return AuditEntry(
            seq, datetime.fromisoformat(at), actor, kind, incident_id, data, prev, digest
        )

    def _page(self, seq: int, limit: int) -> list[_Row]:
        with self._lock:
            return self._db.execute(
                f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
            ).fetchall()

    def _select(self, clause: str, params: Sequence[Any]) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM audit_log {clause}", params).fetchall()
        return [entry_from_row(row) for row in rows]
