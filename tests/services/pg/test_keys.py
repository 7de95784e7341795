"""API keys in Postgres, what the SQLite store has no counterpart for: the table's bytes, and a
database that does not answer. The behaviour both stores share is in ``test_keys_contract.py``."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg.rows import TupleRow

from services.errors import StoreUnavailableError
from services.gateway.auth import Role
from services.pg.keys import PgApiKeyStore
from services.pg.pool import Pool

OpenPool = Callable[..., Pool]


def test_the_table_holds_a_salt_and_a_digest_and_never_the_secret(
    pool: Pool, raw: psycopg.Connection[TupleRow]
) -> None:
    store = PgApiKeyStore(pool)
    fulls = [store.create(name, [Role.ADMIN])[1] for name in ("a", "b")]
    rows = raw.execute("SELECT salt, digest, t::text FROM ic_api_keys AS t").fetchall()
    assert len({salt for salt, _, _ in rows}) == 2
    assert all(len(salt) == 16 and len(digest) == 32 for salt, digest, _ in rows)
    everything = " ".join(text for _, _, text in rows)
    assert "\\x" in everything  # we are looking at the bytes too
    for full in fulls:
        secret = full.split("_", 2)[2]
        assert secret not in everything
        assert secret.encode().hex() not in everything


def test_a_database_that_does_not_answer_is_unavailable_not_unauthenticated(
    new_pool: OpenPool,
) -> None:
    pool = new_pool(max_size=1, timeout=0.5)
    store = PgApiKeyStore(pool)
    key_id, full = store.create("ci", [Role.ADMIN])
    with pool.connection():  # the only connection is taken: every call times out
        for call in (
            lambda: store.verify(full),
            lambda: store.create("x", [Role.VIEWER]),
            store.list,
            lambda: store.revoke(key_id),
        ):
            with pytest.raises(StoreUnavailableError) as raised:
                call()
            assert raised.value.store == "API key store"
    assert store.verify(full).key_id == key_id


def test_a_key_verified_before_an_outage_is_still_accepted_during_it(new_pool: OpenPool) -> None:
    """Alerts must keep flowing while the database is away: a key seen good lately stands for
    what it was then; a key never verified (or a wrong secret) gets the 503, not a 401."""
    pool = new_pool(max_size=1, timeout=0.5)
    store = PgApiKeyStore(pool)
    _, key = store.create("alertmanager", [Role.INGEST])
    _, other = store.create("grafana", [Role.INGEST])
    before = store.verify(key)
    with pool.connection():  # the only connection taken: the table cannot be read
        assert store.verify(key) == before
        with pytest.raises(StoreUnavailableError):
            store.verify(other)  # never verified here
        with pytest.raises(StoreUnavailableError):
            store.verify(key[:-1] + ("A" if key[-1] != "A" else "B"))  # not the same key
