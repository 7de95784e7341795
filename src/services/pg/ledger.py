"""The action and change ledgers in PostgreSQL, shared by every worker process of an estate.

Same methods and meaning as :class:`orchestrator.ledger.ActionLedger` and
:class:`orchestrator.ledger.ChangeLedger`; what changes is who can race. With several workers,
two may take the same incident round at once. :meth:`PgActionLedger.begin` is one
``INSERT ... ON CONFLICT DO NOTHING``: the primary key lets exactly one of them claim a key,
whichever process it runs in, and the claim is committed before ``begin`` returns, so a worker
that dies between ``begin`` and ``finish`` leaves ``started`` behind, as with SQLite.

Several simulated estates may share one database and schema: every row carries its estate, and
keys are per estate (the same key in two estates is two claims).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from orchestrator.ledger import LedgerEntry
from services.pg.pool import Pool, connection, create_tables

_ACTION_TABLES = (
    "CREATE TABLE IF NOT EXISTS ic_actions ("
    " estate text NOT NULL, key text NOT NULL,"
    " status text NOT NULL CHECK (status IN ('started', 'done')), result jsonb,"
    " created_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,"
    " PRIMARY KEY (estate, key))",
)
_CHANGE_TABLES = (
    # ``previous`` is the revision the last upsert replaced: it lets one statement both record
    # the new revision and say what it was before, under the row's lock (see ``observe``).
    "CREATE TABLE IF NOT EXISTS ic_revisions ("
    " estate text NOT NULL, service text NOT NULL, revision text NOT NULL, previous text,"
    " PRIMARY KEY (estate, service))",
    "CREATE TABLE IF NOT EXISTS ic_changes ("
    " estate text NOT NULL, service text NOT NULL, step integer NOT NULL,"
    " PRIMARY KEY (estate, service, step))",
)
# ``default=str`` as the SQLite ledger writes results: an enum or a datetime becomes its text.
_dumps = partial(json.dumps, default=str)


class PgActionLedger:
    """At most one execution per idempotency key of ``estate``, across processes and crashes.

    ``pool`` comes from :func:`services.pg.pool.open_pool`; its owner closes it.
    """

    STORE = "action ledger"

    def __init__(self, pool: Pool, *, estate: str) -> None:
        self._pool = pool
        self.estate = estate
        create_tables(pool, self.STORE, _ACTION_TABLES)

    def get(self, key: str) -> LedgerEntry | None:
        with connection(self._pool, self.STORE) as conn:
            row = conn.execute(
                "SELECT status, result FROM ic_actions WHERE estate = %s AND key = %s",
                (self.estate, key),
            ).fetchone()
        if row is None:
            return None
        return LedgerEntry(key, row[0], row[1])

    def begin(self, key: str) -> bool:
        """Claim ``key``; False when it was claimed before (by this or any other process)."""
        with connection(self._pool, self.STORE) as conn:
            cursor = conn.execute(
                "INSERT INTO ic_actions (estate, key, status) VALUES (%s, %s, 'started')"
                " ON CONFLICT (estate, key) DO NOTHING",
                (self.estate, key),
            )
            return cursor.rowcount == 1

    def finish(self, key: str, result: dict[str, Any]) -> None:
        with connection(self._pool, self.STORE) as conn:
            conn.execute(
                "UPDATE ic_actions SET status = 'done', result = %s, finished_at = now()"
                " WHERE estate = %s AND key = %s",
                (Jsonb(result, dumps=_dumps), self.estate, key),
            )

    def close(self) -> None:
        """Nothing to release: the pool is its owner's (the SQLite ledger owns its file)."""


class PgChangeLedger:
    """The revisions seen per service of ``estate``, and the steps they changed at."""

    STORE = "change ledger"

    def __init__(self, pool: Pool, *, estate: str) -> None:
        self._pool = pool
        self.estate = estate
        create_tables(pool, self.STORE, _CHANGE_TABLES)

    def observe(self, service: str, revision: str, step: int) -> bool | None:
        """Record what ``service`` runs at ``step``; True when that is a change (None: first
        sighting).

        One upsert reads the revision it replaces while holding the row, so two processes
        observing the same service at once cannot both miss, or both claim, the change."""
        with connection(self._pool, self.STORE) as conn:
            row = conn.execute(
                "INSERT INTO ic_revisions AS r (estate, service, revision) VALUES (%s, %s, %s)"
                " ON CONFLICT (estate, service)"
                " DO UPDATE SET revision = excluded.revision, previous = r.revision"
                " RETURNING previous",
                (self.estate, service, revision),
            ).fetchone()
            previous = None if row is None else row[0]  # None: first seen (an insert)
            if previous is None:
                return None
            changed = bool(previous != revision)
            if changed:
                self._insert(conn, service, step)
        return changed

    def record(self, service: str, step: int) -> None:
        with connection(self._pool, self.STORE) as conn:
            self._insert(conn, service, step)

    def _insert(self, conn: Connection[Any], service: str, step: int) -> None:
        conn.execute(
            "INSERT INTO ic_changes (estate, service, step) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (self.estate, service, step),
        )

    def changes(self) -> dict[str, list[int]]:
        with connection(self._pool, self.STORE) as conn:
            rows = conn.execute(
                "SELECT service, step FROM ic_changes WHERE estate = %s ORDER BY step, service",
                (self.estate,),
            ).fetchall()
        out: dict[str, list[int]] = {}
        for service, step in rows:
            out.setdefault(service, []).append(int(step))
        return out

    def close(self) -> None:
        """Nothing to release: the pool is its owner's."""
