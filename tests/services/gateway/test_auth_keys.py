"""API keys against a real SQLite file: shown once, stored hashed, verified, listed, revoked."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.errors import ForbiddenError, UnauthenticatedError
from services.gateway.auth import ApiKeyStore, Authenticator, Principal, Role


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "keys.sqlite3"


@pytest.fixture
def store(db: Path, clock: Clock) -> Iterator[ApiKeyStore]:
    with ApiKeyStore(db, clock=clock) as opened:
        yield opened


def test_a_new_key_verifies_to_its_name_and_roles(store: ApiKeyStore) -> None:
    key_id, full = store.create("alertmanager", [Role.INGEST])
    assert full.startswith(f"ic_{key_id}_")
    assert store.verify(full) == Principal(
        subject="alertmanager", roles=frozenset({Role.INGEST}), via="api-key", key_id=key_id
    )


def test_roles_may_be_given_by_name(store: ApiKeyStore) -> None:
    _, full = store.create("oncall", ["responder", "approver"])
    assert store.verify(full).roles == {Role.RESPONDER, Role.APPROVER}


def test_every_key_is_different(store: ApiKeyStore) -> None:
    made = [store.create("same name", [Role.VIEWER]) for _ in range(20)]
    assert len({key_id for key_id, _ in made}) == 20
    assert len({full for _, full in made}) == 20


def test_the_secret_is_not_stored_anywhere_in_the_database(store: ApiKeyStore, db: Path) -> None:
    _, full = store.create("ci", [Role.ADMIN])
    secret = full.split("_", 2)[2]
    files = [db, db.with_name(db.name + "-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"api_keys" in raw  # we are looking at the right bytes
    assert secret.encode() not in raw
    assert full.encode() not in raw


def test_listing_never_shows_a_secret(store: ApiKeyStore, clock: Clock) -> None:
    first_id, first = store.create("grafana", [Role.INGEST])
    clock.now += timedelta(minutes=1)
    second_id, second = store.create("alice", [Role.APPROVER, Role.VIEWER])
    listed = store.list()
    assert [k.key_id for k in listed] == [first_id, second_id]
    assert listed[1].name == "alice"
    assert listed[1].roles == {Role.APPROVER, Role.VIEWER}
    assert listed[1].created_at == clock.now
    assert listed[1].active
    for info in listed:
        text = repr(info)
        assert first.split("_", 2)[2] not in text
        assert second.split("_", 2)[2] not in text


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "ic_",
        "not-a-key",
        "Bearer ic_0123456789abcdef_" + "a" * 43,
        "ic_0123456789ABCDEF_" + "a" * 43,  # upper-case id
        "ic_0123456789abcdef_" + "a" * 42,  # secret too short
        "ic_0123456789abcdef_" + "a" * 43 + "\n",
        "xx_0123456789abcdef_" + "a" * 43,
    ],
)
def test_malformed_keys_are_refused(store: ApiKeyStore, presented: str) -> None:
    with pytest.raises(UnauthenticatedError, match="malformed API key"):
        store.verify(presented)


@settings(max_examples=200, deadline=None)
@given(presented=st.text(max_size=80) | st.from_regex(r"ic_[0-9a-f]{16}_[A-Za-z0-9_-]{43}"))
def test_anything_presented_is_refused_with_unauthenticated_only(
    tmp_path_factory: pytest.TempPathFactory, presented: str
) -> None:
    with ApiKeyStore(tmp_path_factory.mktemp("fuzz") / "keys.sqlite3") as fresh:
        fresh.create("real", [Role.ADMIN])
        with pytest.raises(UnauthenticatedError):
            fresh.verify(presented)


def test_an_unknown_key_id_is_refused(store: ApiKeyStore) -> None:
    with pytest.raises(UnauthenticatedError, match="unknown or wrong API key"):
        store.verify("ic_0123456789abcdef_" + "a" * 43)


def test_a_wrong_secret_for_a_real_key_id_is_refused(store: ApiKeyStore) -> None:
    key_id, full = store.create("ci", [Role.ADMIN])
    secret = full.split("_", 2)[2]
    flipped = ("B" if secret[0] == "A" else "A") + secret[1:]
    with pytest.raises(UnauthenticatedError, match="unknown or wrong API key") as caught:
        store.verify(f"ic_{key_id}_{flipped}")
    assert flipped not in str(caught.value)


def test_a_revoked_key_stops_working_and_says_so(store: ApiKeyStore, clock: Clock) -> None:
    key_id, full = store.create("old laptop", [Role.RESPONDER])
    store.verify(full)
    clock.now += timedelta(hours=1)
    assert store.revoke(key_id) is True
    with pytest.raises(UnauthenticatedError, match=f"API key {key_id} has been revoked"):
        store.verify(full)
    [info] = store.list()
    assert not info.active
    assert info.revoked_at == clock.now


def test_revoking_twice_keeps_the_first_time_and_unknown_ids_report_false(
    store: ApiKeyStore, clock: Clock
) -> None:
    key_id, _ = store.create("x", [Role.VIEWER])
    first = clock.now
    store.revoke(key_id)
    clock.now += timedelta(days=1)
    assert store.revoke(key_id) is True
    assert store.list()[0].revoked_at == first
    assert store.revoke("0123456789abcdef") is False


def test_revoking_one_key_leaves_the_others_working(store: ApiKeyStore) -> None:
    gone, _ = store.create("a", [Role.VIEWER])
    _, kept = store.create("b", [Role.VIEWER])
    store.revoke(gone)
    assert store.verify(kept).subject == "b"


def test_a_key_made_by_another_process_works_and_its_revocation_is_seen(db: Path) -> None:
    with ApiKeyStore(db) as server, ApiKeyStore(db) as cli:
        key_id, full = cli.create("made by the CLI", [Role.ADMIN])
        assert server.verify(full).key_id == key_id
        cli.revoke(key_id)
        with pytest.raises(UnauthenticatedError, match="revoked"):
            server.verify(full)


def test_keys_survive_a_restart(db: Path) -> None:
    with ApiKeyStore(db) as before:
        _, full = before.create("persisted", [Role.VIEWER])
    with ApiKeyStore(db) as after:
        assert after.verify(full).subject == "persisted"


def test_last_used_is_recorded_at_minute_resolution(store: ApiKeyStore, clock: Clock) -> None:
    _, full = store.create("poller", [Role.VIEWER])
    assert store.list()[0].last_used_at is None
    first_use = clock.now
    store.verify(full)
    assert store.list()[0].last_used_at == first_use
    clock.now += timedelta(seconds=30)
    store.verify(full)
    assert store.list()[0].last_used_at == first_use
    clock.now += timedelta(seconds=31)
    store.verify(full)
    assert store.list()[0].last_used_at == clock.now


@pytest.mark.parametrize(
    ("name", "roles", "message"),
    [
        ("", [Role.VIEWER], "needs a name"),
        ("   ", [Role.VIEWER], "needs a name"),
        ("x", [], "at least one role"),
        ("x", ["root"], "'root' is not a valid Role"),
    ],
)
def test_create_refuses_what_cannot_be_a_key(
    store: ApiKeyStore, name: str, roles: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.create(name, roles)
    assert store.list() == []


def test_concurrent_creates_and_verifies_from_many_threads(store: ApiKeyStore) -> None:
    errors: list[BaseException] = []
    made: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            for i in range(10):
                key_id, full = store.create(f"t{n}-{i}", [Role.VIEWER])
                assert store.verify(full).key_id == key_id
                with lock:
                    made.append((key_id, full))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list()) == 80
    assert all(store.verify(full).key_id == key_id for key_id, full in made)


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
