"""The incident list in PostgreSQL, shared by every gateway and worker of an estate.

:class:`PgIncidentStore` is ``orchestrator.store.IncidentStore`` over the ``ic_incidents``
table: the columns the list filters and orders on, plus the whole summary as ``jsonb``
(``orchestrator.store.summary_to_json``, lossless), so a page is read without rebuilding
anything. Paging, filters and cursors are those of ``orchestrator.store`` exactly; the contract
tests run both stores through the same cases.

Indexes, for the list's queries (``EXPLAIN`` them with ``benchmarks/incident_list.py``'s data):

- ``(estate, opened_at DESC, id DESC)``: the first page and every next one are one index range
  scan from the cursor (keyset pagination), however deep the page;
- ``(estate, status, opened_at DESC, id DESC)``: the same for one status, however rare
  (awaiting approval). Several statuses (the open incidents, the usual view) are common
  enough that the newest-first scan with a filter finds a page after a few dozen rows;
- GIN on ``services``: ``services @> ARRAY[...]`` for a rare service; a common one is, again,
  a filter on the newest-first scan, as the planner chooses.

Severity has five values (with none) and no index of its own: a filter on one of the scans.
On 10,000 incidents every page is well under a millisecond of server time (the benchmark
prints the client's side).

``id`` is compared bytewise (``COLLATE "C"``), as Python compares strings, so ties on
``opened_at`` break the same way in both stores whatever the database's collation. The key is
``(estate, id)``: estates sharing a table cannot overwrite each other's incidents.
"""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg.types.json import Jsonb

from orchestrator.store import (
    Counts,
    check_limit,
    check_times,
    decode_cursor,
    encode_cursor,
    summary_from_json,
    summary_to_json,
)
from orchestrator.summary import IncidentSummary
from services.pg.pool import Pool, connection, create_tables

_TABLES: tuple[LiteralString, ...] = (
    "CREATE TABLE IF NOT EXISTS ic_incidents ("
    ' estate text NOT NULL, id text COLLATE "C" NOT NULL,'
    " status text NOT NULL, severity text, services text[] NOT NULL,"
    " opened_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
    " summary jsonb NOT NULL, PRIMARY KEY (estate, id))",
    "CREATE INDEX IF NOT EXISTS ic_incidents_newest"
    " ON ic_incidents (estate, opened_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS ic_incidents_by_status"
    " ON ic_incidents (estate, status, opened_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS ic_incidents_by_service ON ic_incidents USING gin (services)",
)


class PgIncidentStore:
    """The incidents of ``estate`` in ``pool``'s schema; safe to share between threads.

    ``pool`` comes from :func:`services.pg.pool.open_pool`; its owner closes it.
    """

    STORE = "incident store"

    def __init__(self, pool: Pool, *, estate: str) -> None:
        self._pool = pool
        self.estate = estate
        create_tables(pool, self.STORE, _TABLES)

    def put(self, summary: IncidentSummary) -> None:
        """Insert or replace the summary with ``summary.id``."""
        check_times(summary)
        with connection(self._pool, self.STORE) as conn:
            conn.execute(
                "INSERT INTO ic_incidents"
                " (estate, id, status, severity, services, opened_at, updated_at, summary)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (estate, id) DO UPDATE SET status = excluded.status,"
                " severity = excluded.severity, services = excluded.services,"
                " opened_at = excluded.opened_at, updated_at = excluded.updated_at,"
                " summary = excluded.summary",
                (
                    self.estate,
                    summary.id,
                    summary.status,
                    summary.severity,
                    list(summary.services),
                    summary.opened_at,
                    summary.updated_at,
                    Jsonb(summary_to_json(summary)),
                ),
            )

    def get(self, incident_id: str) -> IncidentSummary | None:
        with connection(self._pool, self.STORE) as conn:
            row = conn.execute(
                "SELECT summary FROM ic_incidents WHERE estate = %s AND id = %s",
                (self.estate, incident_id),
            ).fetchone()
        return None if row is None else summary_from_json(row[0])

    def page(
        self,
        *,
        statuses: set[str],
        severities: set[str],
        service: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[IncidentSummary], str | None]:
        """Newest first; ``cursor`` continues after the last incident of the previous page."""
        check_limit(limit)
        where: list[LiteralString] = ["estate = %s"]
        params: list[Any] = [self.estate]
        # One value as ``=``: PostgreSQL 15 reads ``status = 'x'`` from the status index in
        # order, but ``status = ANY('{x}')`` only as a filter on the newest-first scan.
        if len(statuses) == 1:
            where.append("status = %s")
            params.extend(statuses)
        elif statuses:
            where.append("status = ANY(%s)")
            params.append(sorted(statuses))
        if len(severities) == 1:
            where.append("severity = %s")
            params.extend(severities)
        elif severities:
            where.append("severity = ANY(%s)")
            params.append(sorted(severities))
        if service is not None:
            where.append("services @> ARRAY[%s]::text[]")
            params.append(service)
        if cursor:
            where.append("(opened_at, id) < (%s, %s)")
            params.extend(decode_cursor(cursor))
        params.append(limit + 1)  # one more than asked: is there a next page?
        query: LiteralString = (
            "SELECT summary FROM ic_incidents WHERE "
            + " AND ".join(where)
            + " ORDER BY opened_at DESC, id DESC LIMIT %s"
        )
        with connection(self._pool, self.STORE) as conn:
            rows = conn.execute(query, params).fetchall()
        items = [summary_from_json(row[0]) for row in rows[:limit]]
        return items, (encode_cursor(items[-1]) if len(rows) > limit else None)

    def counts(self) -> Counts:
        with connection(self._pool, self.STORE) as conn:
            rows = conn.execute(
                "SELECT status, severity, count(*) FROM ic_incidents WHERE estate = %s"
                " GROUP BY status, severity",
                (self.estate,),
            ).fetchall()
        return {(status, severity): int(count) for status, severity, count in rows}
