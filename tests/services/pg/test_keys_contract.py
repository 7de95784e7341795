"""The API key stores' contract, run against the SQLite store and the Postgres one alike: keys
shown once and verified, listed without secrets, revoked, last use recorded, and seen at once
by another store on the same keys.

What only one store does is tested beside it: ``tests/services/gateway/test_auth_keys.py``
(the SQLite file) and ``tests/services/pg/test_keys.py`` (the Postgres table and outages)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.errors import LastAdminKeyError, UnauthenticatedError
from services.gateway.auth import ApiKeyStore, Principal, Role
from services.gateway.auth.keys import KEY_RE
from services.pg.keys import PgApiKeyStore
from services.pg.pool import Pool

OpenPool = Callable[..., Pool]
KeyStore: TypeAlias = ApiKeyStore | PgApiKeyStore
OpenStore = Callable[..., KeyStore]
"""Opens another store on the same keys (the same file, or a new pool on the same schema)."""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    opened: list[KeyStore] = []

    if request.param == "sqlite":

        def open_one(clock: Callable[[], datetime] | None = None) -> KeyStore:
            store = ApiKeyStore(tmp_path / "keys.sqlite3", clock=clock or Clock())
            opened.append(store)
            return store

    else:
        new_pool: OpenPool = request.getfixturevalue("new_pool")

        def open_one(clock: Callable[[], datetime] | None = None) -> KeyStore:
            store = PgApiKeyStore(new_pool(max_size=2), clock=clock or Clock())
            opened.append(store)
            return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: OpenStore, clock: Clock) -> KeyStore:
    return open_store(clock)


def test_a_new_key_verifies_to_its_name_and_roles(store: KeyStore) -> None:
    key_id, full = store.create("alertmanager", [Role.INGEST])
    assert KEY_RE.fullmatch(full)
    assert full.startswith(f"ic_{key_id}_")
    assert store.verify(full) == Principal(
        subject="alertmanager", roles=frozenset({Role.INGEST}), via="api-key", key_id=key_id
    )


def test_roles_may_be_given_by_name_and_names_are_trimmed(store: KeyStore) -> None:
    _, full = store.create("  oncall ", ["responder", "approver"])
    assert store.verify(full) == Principal(
        subject="oncall",
        roles=frozenset({Role.RESPONDER, Role.APPROVER}),
        via="api-key",
        key_id=full[3:19],
    )


def test_every_key_is_different(store: KeyStore) -> None:
    made = [store.create("same name", [Role.VIEWER]) for _ in range(20)]
    assert len({key_id for key_id, _ in made}) == 20
    assert len({full for _, full in made}) == 20


def test_listing_is_oldest_first_and_never_shows_a_secret(store: KeyStore, clock: Clock) -> None:
    first_id, first = store.create("grafana", [Role.INGEST])
    clock.now += timedelta(minutes=1)
    second_id, second = store.create("alice", [Role.APPROVER, Role.VIEWER])
    listed = store.list()
    assert [k.key_id for k in listed] == [first_id, second_id]
    assert listed[0].created_at == clock.now - timedelta(minutes=1)
    assert listed[1].name == "alice"
    assert listed[1].roles == {Role.APPROVER, Role.VIEWER}
    assert listed[1].created_at == clock.now
    assert listed[1].revoked_at is None
    assert listed[1].last_used_at is None
    assert listed[1].active
    for info in listed:
        text = repr(info)
        assert first.split("_", 2)[2] not in text
        assert second.split("_", 2)[2] not in text


def test_keys_made_in_the_same_instant_are_listed_by_key_id(store: KeyStore) -> None:
    made = sorted(store.create(f"k{n}", [Role.VIEWER])[0] for n in range(6))
    assert [k.key_id for k in store.list()] == made


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
        "ic_0123456789abcde'_" + "a" * 43,
    ],
)
def test_malformed_keys_are_refused(store: KeyStore, presented: str) -> None:
    with pytest.raises(UnauthenticatedError, match="malformed API key"):
        store.verify(presented)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(presented=st.text(max_size=80) | st.from_regex(r"ic_[0-9a-f]{16}_[A-Za-z0-9_-]{43}"))
def test_anything_presented_is_refused_with_unauthenticated_only(
    store: KeyStore, presented: str
) -> None:
    # Verifying changes nothing, so one store serves every example.
    if not store.list():
        store.create("real", [Role.ADMIN])
    with pytest.raises(UnauthenticatedError):
        store.verify(presented)


def test_an_unknown_key_id_is_refused(store: KeyStore) -> None:
    store.create("real", [Role.ADMIN])
    with pytest.raises(UnauthenticatedError, match="unknown or wrong API key"):
        store.verify("ic_0123456789abcdef_" + "a" * 43)


def test_a_wrong_secret_for_a_real_key_id_is_refused(store: KeyStore) -> None:
    key_id, full = store.create("ci", [Role.ADMIN])
    secret = full.split("_", 2)[2]
    flipped = ("B" if secret[0] == "A" else "A") + secret[1:]
    with pytest.raises(UnauthenticatedError, match="unknown or wrong API key") as caught:
        store.verify(f"ic_{key_id}_{flipped}")
    assert flipped not in str(caught.value)
    assert store.list()[0].last_used_at is None  # a failed attempt is not a use


def test_a_revoked_key_stops_working_and_says_so(store: KeyStore, clock: Clock) -> None:
    key_id, full = store.create("old laptop", [Role.RESPONDER])
    store.verify(full)
    clock.now += timedelta(hours=1)
    assert store.revoke(key_id) is True
    with pytest.raises(UnauthenticatedError, match=f"API key {key_id} has been revoked"):
        store.verify(full)
    [info] = store.list()
    assert not info.active
    assert info.revoked_at == clock.now


def test_a_revoked_key_with_a_wrong_secret_is_only_wrong(store: KeyStore) -> None:
    key_id, full = store.create("old laptop", [Role.RESPONDER])
    store.revoke(key_id)
    with pytest.raises(UnauthenticatedError, match="unknown or wrong API key"):
        store.verify(full[:-1] + ("B" if full[-1] == "A" else "A"))


def test_revoking_twice_keeps_the_first_time_and_unknown_ids_report_false(
    store: KeyStore, clock: Clock
) -> None:
    key_id, _ = store.create("x", [Role.VIEWER])
    first = clock.now
    store.revoke(key_id)
    clock.now += timedelta(days=1)
    assert store.revoke(key_id) is True
    assert store.list()[0].revoked_at == first
    assert store.revoke("0123456789abcdef") is False
    assert store.revoke("not even an id") is False


def test_revoking_one_key_leaves_the_others_working(store: KeyStore) -> None:
    gone, _ = store.create("a", [Role.VIEWER])
    _, kept = store.create("b", [Role.VIEWER])
    store.revoke(gone)
    assert store.verify(kept).subject == "b"


def test_the_last_active_admin_key_cannot_be_revoked(store: KeyStore) -> None:
    first, first_key = store.create("first admin", [Role.ADMIN])
    viewer, _ = store.create("viewer", [Role.VIEWER])
    with pytest.raises(LastAdminKeyError, match=f"API key {first} is the last active admin"):
        store.revoke(first)
    assert store.verify(first_key).subject == "first admin"  # still works
    assert store.revoke(viewer) is True  # other keys go as before
    second, _ = store.create("second admin", [Role.VIEWER, Role.ADMIN])
    assert store.revoke(first) is True  # another admin key is active
    with pytest.raises(LastAdminKeyError):
        store.revoke(second)
    assert store.revoke(first) is True  # revoking a revoked key again is still fine


def test_two_stores_cannot_revoke_the_last_two_admin_keys_between_them(
    open_store: OpenStore,
) -> None:
    """Each revocation checks under a lock: of two racing, one is refused."""
    stores = [open_store(), open_store()]
    ids = [stores[0].create(f"admin {n}", [Role.ADMIN])[0] for n in range(2)]
    results: list[object] = []
    start = threading.Barrier(2)

    def revoke(store: KeyStore, key_id: str) -> None:
        start.wait()
        try:
            results.append(store.revoke(key_id))
        except LastAdminKeyError as exc:
            results.append(exc)

    threads = [threading.Thread(target=revoke, args=pair) for pair in zip(stores, ids, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(map(type, results), key=str) == sorted([bool, LastAdminKeyError], key=str)
    assert sum(info.active for info in stores[1].list()) == 1


def test_last_used_is_recorded_at_minute_resolution(store: KeyStore, clock: Clock) -> None:
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
    store: KeyStore, name: str, roles: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.create(name, roles)
    assert store.list() == []


def test_a_store_is_a_context_manager(open_store: OpenStore) -> None:
    with open_store() as store:
        _, full = store.create("ctx", [Role.VIEWER])
        assert store.verify(full).subject == "ctx"


def test_another_store_sees_creations_and_revocations_at_once(
    open_store: OpenStore, clock: Clock
) -> None:
    server, cli = open_store(clock), open_store(clock)
    key_id, full = cli.create("made by the CLI", [Role.RESPONDER])
    assert server.verify(full).key_id == key_id
    assert [k.key_id for k in server.list()] == [key_id]
    assert cli.revoke(key_id) is True
    with pytest.raises(UnauthenticatedError, match="revoked"):
        server.verify(full)
    assert server.list()[0].revoked_at == clock.now


def test_last_used_is_shared_between_stores(open_store: OpenStore, clock: Clock) -> None:
    one, other = open_store(clock), open_store(clock)
    _, full = one.create("poller", [Role.VIEWER])
    first_use = clock.now
    one.verify(full)
    clock.now += timedelta(seconds=30)
    other.verify(full)
    assert other.list()[0].last_used_at == first_use
    clock.now += timedelta(seconds=31)
    other.verify(full)
    assert one.list()[0].last_used_at == clock.now


def test_keys_survive_a_restart(open_store: OpenStore) -> None:
    with open_store() as before:
        _, full = before.create("persisted", [Role.VIEWER])
    with open_store() as after:
        assert after.verify(full).subject == "persisted"


def test_concurrent_creates_and_verifies_from_many_threads(store: KeyStore) -> None:
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
