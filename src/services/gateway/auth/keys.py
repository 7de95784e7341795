"""API keys: created once, shown once, stored as a salted keyed hash in SQLite, revocable.

A key reads ``ic_<key_id>_<secret>``. ``key_id`` (16 hex digits) is public: it names the key in
listings, logs and the audit trail. ``secret`` is ``secrets.token_urlsafe(32)``, 256 bits from
the operating system's CSPRNG, and is never stored: the row keeps a random 16-byte salt and
``HMAC-SHA256(salt, secret)``.

Why a fast keyed hash and not scrypt or argon2: slow hashes exist to make guessing *low-entropy*
passwords expensive. A 256-bit random secret cannot be guessed at any hashing speed, so a slow
hash would buy no security and would cost tens of milliseconds of CPU on every authenticated
request (and hand anyone with a made-up key a cheap way to burn the gateway's CPU). The per-key
salt means a leaked table offers nothing to precompute against and equal secrets (there are none,
but still) hash differently. The digest is compared with ``hmac.compare_digest``; an unknown
``key_id`` is hashed against a dummy salt so it costs the same as a wrong secret.

The store reads SQLite on every ``verify``: a key created or revoked by the CLI in another process
takes effect on the next request, with no cache to invalidate. One connection serves all threads
behind a lock; the database runs in WAL mode so the CLI and the server can share the file.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from services.errors import LastAdminKeyError, UnauthenticatedError
from services.gateway.auth.rbac import Principal, Role

PREFIX = "ic"
KEY_RE = re.compile(r"^ic_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")
"""A well-formed full key; groups ``key_id`` and ``secret``."""
DUMMY_SALT = secrets.token_bytes(16)
"""Hashed against when the key id is unknown, so that costs what a wrong secret costs."""
LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``last_used`` is written at most this often per key, so verifying stays (almost) read-only."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    roles        TEXT NOT NULL,
    salt         BLOB NOT NULL,
    digest       BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
)
"""


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What the store will tell anyone about a key: never the secret, never its hash."""

    key_id: str
    name: str
    roles: frozenset[Role]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def key_digest(salt: bytes, secret: str) -> bytes:
    """``HMAC-SHA256(salt, secret)``: what a store keeps instead of the secret."""
    return hmac.new(salt, secret.encode("ascii"), hashlib.sha256).digest()


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_roles(text: str) -> frozenset[Role]:
    """The roles of a stored ``roles`` column (comma-separated role names)."""
    return frozenset(Role(name) for name in text.split(",") if name)


def new_key(name: str, roles: Iterable[Role | str]) -> tuple[str, str, bytes, str]:
    """``(name, roles, salt, secret)`` of a key to create: the name stripped, the roles as the
    stored column, a fresh salt and secret. ``ValueError`` for an empty name, no roles, or a name
    that is not a role."""
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    role_set = frozenset(Role(role) for role in roles)
    if not role_set:
        raise ValueError("an API key needs at least one role")
    role_text = ",".join(role.value for role in Role if role in role_set)
    return name, role_text, secrets.token_bytes(16), secrets.token_urlsafe(32)


def split_key(presented: str) -> tuple[str, str]:
    """``(key_id, secret)`` of a full key; ``UnauthenticatedError`` if it is malformed."""
    match = KEY_RE.fullmatch(presented)
    if match is None:
        raise UnauthenticatedError("malformed API key (expected ic_<key id>_<secret>)")
    return match["key_id"], match["secret"]


def check_key(key_id: str, secret: str, row: Sequence[Any] | None) -> tuple[Principal, Any]:
    """The principal key ``key_id`` stands for, given ``secret`` and the key's row (``name,
    roles, salt, digest, revoked_at, last_used_at``; ``None``: no such key), with the row's
    ``last_used_at``. ``UnauthenticatedError`` if the key is unknown, wrong or revoked."""
    if row is None:
        key_digest(DUMMY_SALT, secret)  # same work as a wrong secret
        raise UnauthenticatedError("unknown or wrong API key")
    name, roles, salt, digest, revoked_at, last_used_at = row
    if not hmac.compare_digest(key_digest(bytes(salt), secret), bytes(digest)):
        raise UnauthenticatedError("unknown or wrong API key")
    if revoked_at is not None:
        raise UnauthenticatedError(f"API key {key_id} has been revoked")
    principal = Principal(subject=name, roles=parse_roles(roles), via="api-key", key_id=key_id)
    return principal, last_used_at


def check_revocable(key_id: str, active: Iterable[tuple[str, str]]) -> None:
    """``LastAdminKeyError`` if revoking ``key_id`` would leave no active admin key, given
    the ``(key_id, roles)`` of every active key (read under the lock the revocation holds)."""
    admins = {kid for kid, roles in active if Role.ADMIN in parse_roles(roles)}
    if admins == {key_id}:
        raise LastAdminKeyError(key_id)


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class KeyStore(Protocol):
    """Where the gateway's API keys live: ``ApiKeyStore`` (one SQLite file, one host) or
    ``services.pg.keys.PgApiKeyStore`` (the cluster's Postgres, every gateway)."""

    def create(self, name: str, roles: Iterable[Role | str]) -> tuple[str, str]: ...

    def verify(self, presented: str) -> Principal: ...

    def list(self) -> builtins.list[ApiKeyInfo]: ...

    def revoke(self, key_id: str) -> bool:
        """``LastAdminKeyError`` rather than revoke the last active admin key."""
        ...

    def close(self) -> None: ...


class ApiKeyStore:
    """API keys in one SQLite file; safe to share between threads.

    ``clock`` returns the current time (timezone-aware); tests pass their own.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ApiKeyStore:
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
        with self._lock, self._db:
            while True:
                key_id = secrets.token_hex(8)
                try:
                    self._db.execute(
                        "INSERT INTO api_keys (key_id, name, roles, salt, digest, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (key_id, name, role_text, salt, key_digest(salt, secret), self._now()),
                    )
                except sqlite3.IntegrityError:  # a 64-bit id collided; draw another
                    continue
                break
        return key_id, f"{PREFIX}_{key_id}_{secret}"

    def verify(self, presented: str) -> Principal:
        """The principal a full key stands for; ``UnauthenticatedError`` if it is malformed,
        unknown, wrong or revoked. The reason names the key id at most, never the secret."""
        key_id, secret = split_key(presented)
        with self._lock:
            row = self._db.execute(
                "SELECT name, roles, salt, digest, revoked_at, last_used_at"
                " FROM api_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        principal, last_used_at = check_key(key_id, secret, row)
        self._touch(key_id, _ts(last_used_at))
        return principal

    def list(self) -> builtins.list[ApiKeyInfo]:
        """Every key, active or revoked, oldest first; no secrets, no hashes."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key_id, name, roles, created_at, revoked_at, last_used_at"
                " FROM api_keys ORDER BY created_at, key_id"
            ).fetchall()
        return [
            ApiKeyInfo(
                key_id=key_id,
                name=name,
                roles=parse_roles(roles),
                created_at=datetime.fromisoformat(created_at),
                revoked_at=_ts(revoked_at),
                last_used_at=_ts(last_used_at),
            )
            for key_id, name, roles, created_at, revoked_at, last_used_at in rows
        ]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key from now on. ``False`` if there is no such key; revoking twice keeps the
        first revocation time and returns ``True``. ``LastAdminKeyError`` for the last active
        admin key."""
        with self._lock, self._db:
            # BEGIN IMMEDIATE: the write lock before the read, so another process (the CLI)
            # cannot revoke the other admin key between this check and this update.
            self._db.execute("BEGIN IMMEDIATE")
            active = self._db.execute(
                "SELECT key_id, roles FROM api_keys WHERE revoked_at IS NULL"
            ).fetchall()
            check_revocable(key_id, active)
            cursor = self._db.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
                (self._now(), key_id),
            )
        return cursor.rowcount == 1

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat()

    def _touch(self, key_id: str, last_used: datetime | None) -> None:
        now = self._clock()
        if last_used is not None and now - last_used < LAST_USED_RESOLUTION:
            return
        with self._lock, self._db:
            self._db.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE key_id = ?",
                (now.astimezone(UTC).isoformat(), key_id),
            )
