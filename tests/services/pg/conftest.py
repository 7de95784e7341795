"""A real PostgreSQL for the shared stores' tests: a fresh schema per test, dropped after.

The server is ``IC_TEST_POSTGRES_URL`` or the local one on loopback; when it does not answer
the tests are skipped on a developer's machine and fail in CI (``skip_or_fail``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from conftest import skip_or_fail
from services.pg.pool import Pool, open_pool

POSTGRES = os.environ.get("IC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

OpenPool = Callable[..., Pool]


@pytest.fixture(scope="session")
def postgres() -> str:
    try:
        with psycopg.connect(POSTGRES, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL is not reachable at {POSTGRES}: {exc}")
    return POSTGRES


@pytest.fixture
def schema(postgres: str) -> Iterator[str]:
    """A schema name of this test's own; the schema is created by the first pool opened on it
    and dropped, with everything in it, after the test."""
    name = f"ic_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def new_pool(postgres: str, schema: str) -> Iterator[OpenPool]:
    """Opens pools on the test's schema (``url`` to go through something else); closes them
    after the test."""
    opened: list[Pool] = []

    def open_one(*, url: str | None = None, **options: object) -> Pool:
        pool = open_pool(url or postgres, schema=schema, **options)  # type: ignore[arg-type]
        opened.append(pool)
        return pool

    yield open_one
    for pool in opened:
        pool.close()


@pytest.fixture
def pool(new_pool: OpenPool) -> Pool:
    return new_pool()


@pytest.fixture
def raw(postgres: str, schema: str, pool: Pool) -> Iterator[psycopg.Connection[TupleRow]]:
    """A plain autocommit connection to the test's schema as the superuser: someone with
    write access to the database, not one of the stores."""
    with psycopg.connect(postgres, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
        yield conn
