"""API keys in a real SQLite file: what only the SQLite store shows (the file's bytes, its table),
and the Authenticator reading keys from the request's headers.

The behaviour the SQLite and Postgres stores share (keys shown once, verified, listed, revoked,
last use, another store on the same keys) is tested on both in
``tests/services/pg/test_keys_contract.py``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.errors import ForbiddenError, UnauthenticatedError
from services.gateway.auth import ApiKeyStore, Authenticator, Role


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "keys.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[ApiKeyStore]:
    with ApiKeyStore(db) as opened:
        yield opened


def test_the_secret_is_not_stored_anywhere_in_the_database(store: ApiKeyStore, db: Path) -> None:
    _, full = store.create("ci", [Role.ADMIN])
    secret = full.split("_", 2)[2]
    files = [db, db.with_name(db.name + "-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"api_keys" in raw  # we are looking at the right bytes
    assert secret.encode() not in raw
    assert full.encode() not in raw


def test_the_table_holds_a_salt_and_a_digest_per_key(store: ApiKeyStore, db: Path) -> None:
    store.create("a", [Role.VIEWER])
    store.create("b", [Role.VIEWER])
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT salt, digest FROM api_keys").fetchall()
    conn.close()
    assert len({salt for salt, _ in rows}) == 2
    assert all(len(salt) == 16 and len(digest) == 32 for salt, digest in rows)


# The Authenticator reads the request's headers; these cases use API keys only.


def test_authenticator_takes_a_key_from_either_header(store: ApiKeyStore) -> None:
    _, full = store.create("ci", [Role.RESPONDER])
    auth = Authenticator(keys=store)
    assert auth.authenticate(None, full).subject == "ci"
    assert auth.authenticate(f"Bearer {full}").subject == "ci"
    assert auth.authenticate(f"bearer   {full}  ").subject == "ci"


@pytest.mark.parametrize(
    ("authorization", "api_key", "reason"),
    [
        (None, None, "no credential"),
        ("", "", "no credential"),
        ("Basic dXNlcjpwYXNz", None, "malformed API key"),  # user:pass
        ("Bearer", None, "must read 'Bearer <token>'"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", None, "JWT bearer tokens are not accepted"),
    ],
)
def test_authenticator_says_what_is_wrong_with_the_headers(
    store: ApiKeyStore, authorization: str | None, api_key: str | None, reason: str
) -> None:
    with pytest.raises(UnauthenticatedError, match=reason):
        Authenticator(keys=store).authenticate(authorization, api_key)


def test_authenticator_refuses_two_credentials_at_once(store: ApiKeyStore) -> None:
    _, full = store.create("ci", [Role.ADMIN])
    with pytest.raises(UnauthenticatedError, match="one credential"):
        Authenticator(keys=store).authenticate(f"Bearer {full}", full)


def test_require_is_401_then_403_then_the_principal(store: ApiKeyStore) -> None:
    _, ingest = store.create("alertmanager", [Role.INGEST])
    auth = Authenticator(keys=store)
    with pytest.raises(UnauthenticatedError):
        auth.require("alerts.ingest", authorization=None)
    with pytest.raises(ForbiddenError, match=r"incidents\.list"):
        auth.require("incidents.list", authorization=None, api_key=ingest)
    assert auth.require("alerts.ingest", authorization=f"Bearer {ingest}").subject == (
        "alertmanager"
    )
