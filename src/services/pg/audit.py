"""The audit trail in PostgreSQL: one hash chain that several processes append to.

Same public API and guarantees as :class:`services.audit.AuditTrail`; read its module docstring
for the chain, what ``verify`` proves and what it cannot. Both are a
:class:`~services.audit.BaseTrail`: ``append``, ``verify`` and ``subscribe`` are the same code,
over the reads and writes each store makes. Entries are hashed with the same
:func:`~services.audit.entry_hash` over the same stored text (``at`` as ISO text with
microseconds, ``data`` as canonical JSON text, not ``jsonb``, which would reorder keys and
respell numbers), so an entry has the same hash in either store.

One chain, many writers
-----------------------
Every append takes a transaction-scoped advisory lock keyed by the table, then reads the head,
inserts after it and commits, releasing the lock. Appends from any number of processes are so
serialised: ``seq`` has no gaps and each ``prev_hash`` is the entry before it. A reader never
sees entry ``n + 1`` without entry ``n``: the next appender gets the lock only once the commit
holding ``n`` is visible. Waiting for the lock is bounded by the pool's timeout
(``lock_timeout``), so a writer stuck in another process surfaces as
:class:`~services.errors.StoreUnavailableError`, not as a hang. Within the process a
``threading.Lock`` keeps batches in sequence order for the subscribers.

Append-only in the database
---------------------------
Triggers refuse ``UPDATE``, ``DELETE`` and ``TRUNCATE`` of ``ic_audit_log`` for every role that
does not first disable them (a superuser or the table's owner can: the chain, not the trigger,
is what catches them). Opening a trail puts back a guard that was dropped or disabled, with a
warning, as the SQLite trail does.

Subscribers and ``on_commit``
-----------------------------
``subscribe`` works as in the SQLite trail: this process's appends only, each batch once, in
sequence order, after the commit. ``on_commit(entries)``, given to the constructor, is called
the same way before the subscribers; it is the hook that tells other processes (a Redis
publish, see ``services.cluster.doorbell.ring``). A hook or subscriber that raises is logged;
the entries are stored whatever it does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, LiteralString

from psycopg import sql

from services.audit import (
    GENESIS_HASH,
    AuditEntry,
    BaseTrail,
    Batch,
    Prepared,
    Subscribers,
    entry_from_row,
    entry_hash,
    utcnow,
)
from services.pg.pool import Connection, Pool, connection, schema_change

logger = logging.getLogger(__name__)


_LOCK_CLASS = 0x49434154  # "ICAT": the advisory lock space of audit trails
_COLUMNS = "seq, at, actor, kind, incident_id, data, prev_hash, hash"
_TABLES: tuple[LiteralString, ...] = (
    "CREATE TABLE IF NOT EXISTS ic_audit_log ("
    " seq bigint PRIMARY KEY CHECK (seq >= 1), at text NOT NULL, actor text NOT NULL,"
    " kind text NOT NULL, incident_id text, data text NOT NULL, prev_hash text NOT NULL,"
    " hash text NOT NULL, idem_key text UNIQUE)",
    "CREATE INDEX IF NOT EXISTS ic_audit_log_by_incident ON ic_audit_log (incident_id, seq)",
    "CREATE OR REPLACE FUNCTION ic_audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'ic_audit_log is append-only: % refused', TG_OP; END $$",
)
_GUARDS: dict[str, LiteralString] = {
    "ic_audit_log_no_update": "CREATE TRIGGER ic_audit_log_no_update BEFORE UPDATE"
    " ON ic_audit_log FOR EACH ROW EXECUTE FUNCTION ic_audit_log_refuse()",
    "ic_audit_log_no_delete": "CREATE TRIGGER ic_audit_log_no_delete BEFORE DELETE"
    " ON ic_audit_log FOR EACH ROW EXECUTE FUNCTION ic_audit_log_refuse()",
    "ic_audit_log_no_truncate": "CREATE TRIGGER ic_audit_log_no_truncate BEFORE TRUNCATE"
    " ON ic_audit_log FOR EACH STATEMENT EXECUTE FUNCTION ic_audit_log_refuse()",
}


class PgAuditTrail(BaseTrail):
    """The audit trail in the ``ic_audit_log`` table of ``pool``'s schema; safe to share
    between threads, and between processes through the database.

    ``clock`` returns the current time, timezone-aware; tests pass their own. ``pool`` comes
    from :func:`services.pg.pool.open_pool`; its owner closes it.
    """

    STORE = "audit trail"

    def __init__(
        self,
        pool: Pool,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_commit: Batch | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._lock = threading.Lock()  # appends of this process, so batches queue in order
        self._subscribers = Subscribers(first=on_commit)
        self._lock_key = self._open()

    def close(self) -> None:
        """Stop calling subscribers and the hook. The pool is its owner's to close."""
        self._subscribers.clear()

    def after(
        self, seq: int, *, limit: int = 1000, incident_id: str | None = None
    ) -> list[AuditEntry]:
        """Up to ``limit`` entries with a sequence number above ``seq``, ascending; only
        ``incident_id``'s when given."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if incident_id is None:
            return self._select("WHERE seq > %s ORDER BY seq LIMIT %s", (seq, limit))
        return self._select(
            "WHERE seq > %s AND incident_id = %s ORDER BY seq LIMIT %s", (seq, incident_id, limit)
        )

    def for_incident(self, incident_id: str) -> list[AuditEntry]:
        """Every entry of ``incident_id``, ascending."""
        return self._select("WHERE incident_id = %s ORDER BY seq", (incident_id,))

    def last_seq(self) -> int:
        """The sequence number of the latest entry; 0 when the trail is empty."""
        with connection(self._pool, self.STORE) as conn:
            return _head(conn)[0]

    # -- internals -----------------------------------------------------------------------------

    def _open(self) -> int:
        """Create the table, or put back its missing or disabled guards (with a warning);
        return the append lock's key: the table's oid, so that trails in two schemas of one
        database do not wait for each other."""
        with schema_change(self._pool, self.STORE) as conn:
            existed = conn.execute("SELECT to_regclass('ic_audit_log')").fetchone() != (None,)
            for statement in _TABLES:
                conn.execute(statement)
            present = dict(
                conn.execute(
                    "SELECT tgname, tgenabled FROM pg_trigger"
                    " WHERE tgrelid = 'ic_audit_log'::regclass AND NOT tgisinternal"
                ).fetchall()
            )
            for name, statement in _GUARDS.items():
                if name not in present:
                    if existed:
                        logger.warning("audit trail: %s was missing; restored", name)
                    conn.execute(statement)
                elif present[name] == "D":
                    logger.warning("audit trail: %s was disabled; enabled again", name)
                    conn.execute(
                        sql.SQL("ALTER TABLE ic_audit_log ENABLE TRIGGER {}").format(
                            sql.Identifier(name)
                        )
                    )
            row = conn.execute("SELECT 'ic_audit_log'::regclass::oid::bigint").fetchone()
        assert row is not None  # a SELECT of one value
        return int(row[0]) - 2**31  # an oid is unsigned 32-bit; the lock takes a signed one

    def _store(self, prepared: list[Prepared]) -> list[AuditEntry]:
        """Insert after the head under the trail's advisory lock (between processes)."""
        stored: list[AuditEntry] = []
        with connection(self._pool, self.STORE) as conn:
            conn.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                (f"{int(self._pool.timeout * 1000)}ms",),
            )
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, self._lock_key))
            at = self._now()
            when = datetime.fromisoformat(at)
            seq, prev_hash = _head(conn)
            keys = [record.key for record, _, _ in prepared if record.key is not None]
            taken: set[str] = set()
            if keys:
                found = conn.execute(
                    "SELECT idem_key FROM ic_audit_log WHERE idem_key = ANY(%s)", (keys,)
                )
                taken = {key for (key,) in found}
            rows = []
            for record, text, data in prepared:
                if record.key is not None:
                    if record.key in taken:
                        continue  # stored already: skipped, no sequence number used
                    taken.add(record.key)
                seq += 1
                actor, kind, incident_id = record.actor, record.kind, record.incident_id
                digest = entry_hash(seq, at, actor, kind, incident_id, data, prev_hash)
                rows.append(
                    (seq, at, actor, kind, incident_id, text, prev_hash, digest, record.key)
                )
                entry = AuditEntry(seq, when, actor, kind, incident_id, data, prev_hash, digest)
                stored.append(entry)
                prev_hash = digest
            if rows:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO ic_audit_log ({_COLUMNS}, idem_key)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
        return stored

    def _page(self, seq: int, limit: int) -> list[tuple[Any, ...]]:
        """One connection borrowed per page, so a long ``verify`` holds nothing appends need."""
        with connection(self._pool, self.STORE) as conn:
            return conn.execute(
                f"SELECT {_COLUMNS} FROM ic_audit_log WHERE seq > %s ORDER BY seq LIMIT %s",
                (seq, limit),
            ).fetchall()

    def _select(self, clause: LiteralString, params: Sequence[Any]) -> list[AuditEntry]:
        with connection(self._pool, self.STORE) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM ic_audit_log {clause}", params).fetchall()
        return [entry_from_row(row) for row in rows]


def _head(conn: Connection) -> tuple[int, str]:
    """``(seq, hash)`` of the latest entry."""
    row = conn.execute("SELECT seq, hash FROM ic_audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))
