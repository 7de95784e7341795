"""The notifier's cursor in Postgres: the seq of the last audit entry handled, one row per
scope (a cluster's schema), so whichever worker runs the notifier goes on from it."""

from __future__ import annotations

from services.pg.pool import Pool, connection, create_tables

_TABLES = (
    "CREATE TABLE IF NOT EXISTS ic_notify_cursor ( scope text PRIMARY KEY, seq bigint NOT NULL)",
)


class PgCursor:
    STORE = "notifier cursor"

    def __init__(self, pool: Pool, *, scope: str) -> None:
        self._pool = pool
        self.scope = scope
        create_tables(pool, self.STORE, _TABLES)

    def load(self) -> int | None:
        with connection(self._pool, self.STORE) as conn:
            row = conn.execute(
                "SELECT seq FROM ic_notify_cursor WHERE scope = %s", (self.scope,)
            ).fetchone()
        return None if row is None else int(row[0])

    def save(self, seq: int) -> None:
        with connection(self._pool, self.STORE) as conn:
            conn.execute(
                "INSERT INTO ic_notify_cursor (scope, seq) VALUES (%s, %s)"
                " ON CONFLICT (scope) DO UPDATE SET seq = excluded.seq",
                (self.scope, seq),
            )
