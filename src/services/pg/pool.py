"""Connections to the shared PostgreSQL stores: one pool per process, bounded waits, one error.

Several gateway and worker processes share one database (issue 6). Each opens one
:class:`psycopg_pool.ConnectionPool` with :func:`open_pool` and hands it to every store it
uses (:mod:`services.pg.ledger`, :mod:`services.pg.audit`, :mod:`services.pg.incidents`); the
stores borrow a connection per call through :func:`connection`.

Failures
--------
A database that is down must not hang a request or a worker. Every wait is bounded by
``timeout`` (default :data:`DEFAULT_TIMEOUT`): opening a connection (libpq's
``connect_timeout``), and waiting for a pooled connection to come free or to be reconnected
(the pool's own timeout). Whatever psycopg reports as operational (refused, dropped, timed out,
:class:`psycopg_pool.PoolTimeout`) leaves :func:`connection` as
:class:`~services.errors.StoreUnavailableError`, which names the store and says what failed;
the gateway answers it with 503.

Recovery
--------
The pool checks each connection before lending it (an empty query: one round trip on
loopback, tens of microseconds) and replaces one that the server closed, so after the database
restarts, or terminates a backend, the next call gets a working connection instead of the
first call on every stale one failing. While the server is away the pool keeps trying to
reconnect in the background; nothing needs restarting when it is back.

Schemas
-------
``schema`` puts every table of the process in one PostgreSQL schema (created when missing):
each connection starts with ``search_path`` set to it, so the stores' SQL names bare tables.
Tests and benchmarks use a fresh schema each; estates sharing a database may do the same, or
share a schema and tell their rows apart by the stores' ``estate`` column. Every connection
also runs in UTC, so ``timestamptz`` values come back as UTC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import LiteralString, TypeAlias

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from services.errors import ConfigurationError, StoreUnavailableError

Pool: TypeAlias = "ConnectionPool[psycopg.Connection[TupleRow]]"
Connection: TypeAlias = "psycopg.Connection[TupleRow]"

DEFAULT_TIMEOUT = 5.0
"""Seconds a call waits for a connection before :class:`StoreUnavailableError`."""

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DDL_LOCK = 0x49434443  # "ICDC": one process at a time creates tables, in any schema


def open_pool(
    url: str,
    *,
    schema: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    min_size: int = 1,
    max_size: int = 8,
    name: str = "incident-commander",
) -> Pool:
    """An open pool on ``url`` (``postgresql://...``); the caller closes it.

    Tries one connection first, so a wrong URL or a server that is down fails here, at once,
    with the server's own words, rather than after the pool's timeout.
    """
    if schema is not None and not _SCHEMA.fullmatch(schema):
        raise ConfigurationError(
            f"schema {schema!r}: use lowercase letters, digits and underscores (at most 63)"
        )
    if timeout <= 0:
        raise ConfigurationError(f"the pool's timeout must be positive, not {timeout}")
    where = f"pool {name}"
    conninfo = connection_info(url, schema=schema, timeout=timeout, where=where)
    try:
        with psycopg.connect(conninfo) as first:
            if schema is not None:
                _create_schema(first, schema)
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(where, f"cannot connect: {_said(exc)}") from exc
    pool: Pool = ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        check=ConnectionPool.check_connection,
        name=name,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except psycopg.OperationalError as exc:
        pool.close()
        raise StoreUnavailableError(where, f"cannot open the pool: {_said(exc)}") from exc
    return pool


def connection_info(url: str, *, schema: str | None, timeout: float, where: str) -> str:
    """libpq's connection string for ``url``: bounded connect, UTC, the schema first on the
    search path, TCP keepalives (a peer that vanishes without closing the socket is noticed,
    not waited on forever). Every pool of the process connects with one of these."""
    try:
        return make_conninfo(
            url,
            connect_timeout=max(1, math.ceil(timeout)),
            options="-c TimeZone=UTC" + (f" -c search_path={schema}" if schema else ""),
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
    except psycopg.ProgrammingError as exc:  # not a URL libpq can read; it may hold a password
        raise ConfigurationError(f"{where}: the PostgreSQL URL cannot be read") from exc


@contextmanager
def connection(pool: Pool, store: str) -> Iterator[Connection]:
    """A pooled connection in a transaction, committed when the block ends without an error
    and rolled back when it raises. Operational failures become :class:`StoreUnavailableError`
    naming ``store``; every other error passes through unchanged."""
    try:
        with pool.connection() as conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(store, _said(exc)) from exc


@contextmanager
def schema_change(pool: Pool, store: str) -> Iterator[Connection]:
    """A transaction for ``CREATE ... IF NOT EXISTS`` and the like, one process at a time: two
    processes starting together would otherwise race on PostgreSQL's catalogue ("duplicate key
    value violates unique constraint pg_type_typname_nsp_index"). Waiting for that lock, or
    for a table's, is bounded by the pool's timeout (``lock_timeout``)."""
    with connection(pool, store) as conn:
        conn.execute(
            "SELECT set_config('lock_timeout', %s, true)", (f"{int(pool.timeout * 1000)}ms",)
        )
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        yield conn


def create_tables(pool: Pool, store: str, statements: Sequence[LiteralString]) -> None:
    """Run ``statements`` in one :func:`schema_change`."""
    with schema_change(pool, store) as conn:
        for statement in statements:
            conn.execute(statement)


def _create_schema(conn: Connection, schema: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.commit()


def _said(exc: psycopg.Error) -> str:
    """What psycopg said, on one line (libpq's messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__
