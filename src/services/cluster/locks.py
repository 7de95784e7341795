"""Redis locks, redis-py's own (``redis.lock.Lock``: a random token per holder, released and
extended only by a Lua script that checks the token, and an expiry so a dead holder's lock
frees itself).

- ``Lease``: one worker at a time commands an estate. A heartbeat thread renews it every
  third of its time to live, so a long batch of work never outlives it; a worker that dies
  stops renewing and another takes over when it expires. A holder that cannot renew (cut off
  from Redis) must stop before its lease could have expired: ``held`` turns False then.
- ``ResourceLocks``: one action at a time on a resource (a service's capacity, its task
  definition), whichever incident or worker asks. Taken around each AWS call that changes
  something.
- ``progressed`` / ``progressing``: the lease says a worker is alive (its heartbeat thread
  renews it), not that it is getting anywhere. The commander marks each finished turn, so a
  holder stuck in one (a call that never returns) shows as not ready.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError, LockNotOwnedError

from services.cluster.stream import unavailable
from services.errors import ResourceBusyError

log = logging.getLogger(__name__)


class Lease:
    def __init__(self, client: redis.Redis, name: str, *, ttl_s: float, holder: str) -> None:
        self.name = f"ic:lease:{name}"
        self._of = name
        self.ttl_s = ttl_s
        self.holder = holder
        self._lock = client.lock(self.name, timeout=ttl_s, blocking=False, thread_local=False)
        self._renewed_at: float | None = None
        self._guard = threading.Lock()
        self._beating = threading.Event()
        self._heart: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lease if it is free; True when this worker holds it now."""
        token = f"{self.holder}:{uuid.uuid4().hex}".encode()
        try:
            got = bool(self._lock.acquire(token=token))
        except redis.RedisError as exc:
            raise unavailable(f"taking the lease {self.name}", exc) from exc
        if got:
            self._renewed_at = time.monotonic()
            self._start_heartbeat()
        return got

    def _start_heartbeat(self) -> None:
        self._beating.set()  # first: a heartbeat still sleeping from before beats on for us
        if self._heart is not None and self._heart.is_alive():
            return
        self._heart = threading.Thread(target=self._beat, name=f"lease:{self.name}", daemon=True)
        self._heart.start()

    def _beat(self) -> None:
        while self._beating.is_set():
            time.sleep(self.ttl_s / 3)
            if not self._beating.is_set() or not self.renew():
                return

    def renew(self) -> bool:
        """Push the expiry out to a full time to live again. False when the lease is no
        longer ours (it expired and someone else may hold it): stop commanding at once."""
        with self._guard:
            return self._renew()

    def _renew(self) -> bool:
        if self._renewed_at is None:
            return False
        try:
            self._lock.reacquire()
        except LockNotOwnedError:
            self._renewed_at = None
            return False
        except redis.RedisError as exc:
            # Redis did not answer: we may still hold the lease until it would have expired.
            if time.monotonic() - self._renewed_at < self.ttl_s:
                log.warning("could not renew %s (%s); still within its lifetime", self.name, exc)
                return True
            self._renewed_at = None
            return False
        self._renewed_at = time.monotonic()
        return True

    @property
    def held(self) -> bool:
        """Held as far as this process knows, and renewed within its time to live."""
        return self._renewed_at is not None and time.monotonic() - self._renewed_at < self.ttl_s

    def holder_now(self) -> str | None:
        """Who holds the lease, by its token's holder part; None when free."""
        return holder(self._lock.redis, self._of)

    def release(self) -> None:
        self._beating.clear()
        with self._guard:
            if self._renewed_at is None:
                return
            self._renewed_at = None
        try:
            self._lock.release()
        except (LockError, redis.RedisError) as exc:  # expired, or Redis gone: it frees itself
            log.warning("releasing %s: %s", self.name, exc)


def holder(client: redis.Redis, name: str) -> str | None:
    """Who holds the lease ``name`` (by the holder part of its token); None when free."""
    key = f"ic:lease:{name}"
    try:
        token = client.get(key)
    except redis.RedisError as exc:
        raise unavailable(f"reading the lease {key}", exc) from exc
    if token is None:
        return None
    text = token.decode() if isinstance(token, bytes) else str(token)
    return text.rsplit(":", 1)[0]


class ResourceLocks:
    def __init__(self, client: redis.Redis, *, ttl_s: float = 60.0, wait_s: float = 10.0) -> None:
        self.client = client
        self.ttl_s = ttl_s
        """Longer than any one AWS call with its retries: the lock of a holder that died
        frees itself after this."""
        self.wait_s = wait_s

    @contextmanager
    def hold(self, resource: str) -> Iterator[None]:
        """Hold ``resource``'s lock for the block; ``ResourceBusyError`` when another holder
        keeps it past ``wait_s``."""
        lock = self.client.lock(
            f"ic:lock:{resource}",
            timeout=self.ttl_s,
            blocking=True,
            blocking_timeout=self.wait_s,
            thread_local=False,
        )
        try:
            got = lock.acquire()
        except redis.RedisError as exc:
            raise unavailable(f"locking {resource}", exc) from exc
        if not got:
            raise ResourceBusyError(f"{resource} is locked by another action")
        try:
            yield
        finally:
            try:
                lock.release()
            except LockNotOwnedError:
                log.warning("the lock on %s expired while held (the action outlived it)", resource)
            except redis.RedisError as exc:
                log.warning("releasing the lock on %s: %s (it expires by itself)", resource, exc)


def progressed(client: redis.Redis, name: str, *, within_s: float) -> None:
    """Mark that the commander of estate ``name`` has just finished a turn; the mark lapses
    after ``within_s`` unless it is renewed."""
    key = f"ic:progress:{name}"
    try:
        client.set(key, b"1", px=max(1, round(within_s * 1000)))
    except redis.RedisError as exc:
        raise unavailable(f"marking progress on {key}", exc) from exc


def progressing(client: redis.Redis, name: str) -> bool:
    """Whether the commander of estate ``name`` has finished a turn within its window."""
    key = f"ic:progress:{name}"
    try:
        return bool(client.exists(key))
    except redis.RedisError as exc:
        raise unavailable(f"reading {key}", exc) from exc
