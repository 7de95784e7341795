"""The gateway's API keys in PostgreSQL, shared by every gateway process of the cluster.

Same methods, key format and meaning as :class:`services.gateway.auth.keys.ApiKeyStore` (read
its module docstring for why a key is ``ic_<key_id>_<secret>`` and the row keeps a random salt
and ``HMAC-SHA256(salt, secret)``); the helpers that make and check a key are that module's, so
the two stores cannot drift apart. What changes is who shares the keys: gateways on several
hosts, and the CLI, through one table, ``ic_api_keys``.

No cache: every :meth:`PgApiKeyStore.verify` reads the key's row (one primary-key lookup), so
a key created or revoked through any store on the table is accepted or refused by every other
on its next request, with nothing to invalidate. ``last_used_at`` is written at most once per
:data:`~services.gateway.auth.keys.LAST_USED_RESOLUTION` per key, by whichever gateway gets
there first, so verifying stays (almost) read-only.

Every call borrows a connection through :func:`services.pg.pool.connection`: a database that
is away is :class:`~services.errors.StoreUnavailableError` naming the ``API key store``
(the gateway's 503), never a hang and never a 401.

One exception, so that alerts keep flowing through a database outage (ingest needs only
Redis): while the table cannot be read, a key this store verified within the last
:data:`OUTAGE_GRACE_S` seconds is still accepted, for what it was then. A revocation made
during the outage cannot be seen until the database is back; one made before it was seen at
that key's next good verification. Only a digest of the presented key is kept, in memory.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pybreaker

from services.errors import StoreUnavailableError
from services.gateway.auth.keys import (
    LAST_USED_RESOLUTION,
    PREFIX,
    ApiKeyInfo,
    check_key,
    check_revocable,
    key_digest,
    new_key,
    parse_roles,
    split_key,
    utcnow,
)
from services.gateway.auth.rbac import Principal, Role
from services.pg.pool import Pool, connection, create_tables

OUTAGE_GRACE_S = 900.0
"""How long a verified key stays good while the database is unreachable."""
OUTAGE_RETRY_S = 2.0
"""After a failed read, how long verification answers from memory before trying again."""
log = logging.getLogger(__name__)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS ic_api_keys ("
    " key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),"
    " name text NOT NULL, roles text NOT NULL,"
    " salt bytea NOT NULL CHECK (octet_length(salt) = 16),"
    " digest bytea NOT NULL CHECK (octet_length(digest) = 32),"
    " created_at timestamptz NOT NULL, revoked_at timestamptz, last_used_at timestamptz)",
)


class PgApiKeyStore:
    """API keys in the ``ic_api_keys`` table; safe to share between threads and processes.

    ``pool`` comes from :func:`services.pg.pool.open_pool`; its owner closes it. ``clock``
    returns the current time (timezone-aware); tests pass their own.
    """

    STORE = "API key store"

    def __init__(self, pool: Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock
        self._verified: dict[str, tuple[bytes, Principal, float]] = {}
        """Key id -> (SHA-256 of the presented key, its principal, when; monotonic)."""
        self._verified_lock = threading.Lock()
        # Once the database has failed a request, the next ones for a few seconds do not wait
        # out the pool's timeout each: every request would take that long during an outage.
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=1, reset_timeout=OUTAGE_RETRY_S, throw_new_error_on_trip=False
        )
        create_tables(pool, self.STORE, _TABLES)

    def close(self) -> None:
        """Nothing to release: the pool is its owner's (the SQLite store owns its file)."""

    def __enter__(self) -> PgApiKeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def create(self, name: str, roles: Iterable[Role | str]) -> tuple[str, str]:
        """Create a key; return ``(key_id, full_key)``. The full key cannot be recovered later.

        Raises ``ValueError`` for an empty name, no roles, or a name that is not a role.
        """
        name, role_text, salt, secret = new_key(name, roles)
        with connection(self._pool, self.STORE) as conn:
            while True:
                key_id = secrets.token_hex(8)
                cursor = conn.execute(
                    "INSERT INTO ic_api_keys (key_id, name, roles, salt, digest, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key_id) DO NOTHING",
                    (key_id, name, role_text, salt, key_digest(salt, secret), self._now()),
                )
                if cursor.rowcount == 1:
                    break  # else a 64-bit id collided; draw another
        return key_id, f"{PREFIX}_{key_id}_{secret}"

    def verify(self, presented: str) -> Principal:
        """The principal a full key stands for; ``UnauthenticatedError`` if it is malformed,
        unknown, wrong or revoked. The reason names the key id at most, never the secret."""
        key_id, secret = split_key(presented)
        remembered = self._remembered(key_id, presented)
        if remembered is not None and self._breaker.current_state == pybreaker.STATE_OPEN:
            return remembered  # the database failed a moment ago: do not wait on it again
        try:
            row = self._breaker.call(self._row, key_id)
        except pybreaker.CircuitBreakerError:  # open, and nothing to fall back on: ask anyway
            row = self._row(key_id)
        except StoreUnavailableError:
            if remembered is None:
                raise
            log.warning(
                "API key %s accepted as last verified: %s is unreachable", key_id, self.STORE
            )
            return remembered
        self._forget(key_id)
        principal, last_used_at = check_key(key_id, secret, row)
        try:
            self._touch(key_id, last_used_at)
        except StoreUnavailableError as exc:  # last use is bookkeeping: the key is good
            log.warning("API key %s: last use not recorded: %s", key_id, exc)
        self._remember(key_id, presented, principal)
        return principal

    def _row(self, key_id: str) -> tuple[Any, ...] | None:
        with connection(self._pool, self.STORE) as conn:
            return conn.execute(
                "SELECT name, roles, salt, digest, revoked_at, last_used_at"
                " FROM ic_api_keys WHERE key_id = %s",
                (key_id,),
            ).fetchone()

    def _remember(self, key_id: str, presented: str, principal: Principal) -> None:
        fingerprint = hashlib.sha256(presented.encode()).digest()
        with self._verified_lock:
            self._verified[key_id] = (fingerprint, principal, time.monotonic())

    def _forget(self, key_id: str) -> None:
        with self._verified_lock:
            self._verified.pop(key_id, None)

    def _remembered(self, key_id: str, presented: str) -> Principal | None:
        with self._verified_lock:
            got = self._verified.get(key_id)
        if got is None:
            return None
        fingerprint, principal, at = got
        fresh = time.monotonic() - at < OUTAGE_GRACE_S
        same = hmac.compare_digest(fingerprint, hashlib.sha256(presented.encode()).digest())
        return principal if fresh and same else None

    def list(self) -> builtins.list[ApiKeyInfo]:
        """Every key, active or revoked, oldest first; no secrets, no hashes."""
        with connection(self._pool, self.STORE) as conn:
            rows = conn.execute(
                "SELECT key_id, name, roles, created_at, revoked_at, last_used_at"
                ' FROM ic_api_keys ORDER BY created_at, key_id COLLATE "C"'
            ).fetchall()
        return [
            ApiKeyInfo(
                key_id=key_id,
                name=name,
                roles=parse_roles(roles),
                created_at=created_at,
                revoked_at=revoked_at,
                last_used_at=last_used_at,
            )
            for key_id, name, roles, created_at, revoked_at, last_used_at in rows
        ]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key from now on. ``False`` if there is no such key; revoking twice keeps the
        first revocation time and returns ``True``. ``LastAdminKeyError`` for the last active
        admin key."""
        with connection(self._pool, self.STORE) as conn:
            # The active keys' rows locked until the update commits: of two gateways revoking
            # the last two admin keys at once, the second sees the first's revocation.
            active = conn.execute(
                "SELECT key_id, roles FROM ic_api_keys WHERE revoked_at IS NULL FOR UPDATE"
            ).fetchall()
            check_revocable(key_id, active)
            cursor = conn.execute(
                "UPDATE ic_api_keys SET revoked_at = COALESCE(revoked_at, %s) WHERE key_id = %s",
                (self._now(), key_id),
            )
            return cursor.rowcount == 1

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _touch(self, key_id: str, last_used: datetime | None) -> None:
        now = self._now()
        if last_used is not None and now - last_used < LAST_USED_RESOLUTION:
            return
        # The same test under the row's lock: of several gateways that read the same old
        # value, the first writes and the others' updates match no row.
        with connection(self._pool, self.STORE) as conn:
            conn.execute(
                "UPDATE ic_api_keys SET last_used_at = %s WHERE key_id = %s"
                " AND (last_used_at IS NULL OR last_used_at <= %s)",
                (now, key_id, now - LAST_USED_RESOLUTION),
            )
