"""The audit trail's doorbell: workers append to the shared trail in Postgres and ring (Redis
pub/sub); every gateway reads what is new and hands it to its event-stream clients.

Pub/sub delivers at most once, so the message carries no data, only "look": the entries
come from the trail itself, in sequence order, and a gateway also looks every ``poll_s``
seconds. A ring lost while a gateway was reconnecting delays entries; it never loses them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import redis

from services.audit import AuditEntry, Subscribers
from services.errors import OverloadedError

log = logging.getLogger(__name__)

CHANNEL = "ic:audit:"
"""Followed by the estate's name."""
_PAGE = 1000


class TrailReader(Protocol):
    def after(
        self, seq: int, *, limit: int = 1000, incident_id: str | None = None
    ) -> list[AuditEntry]: ...

    def last_seq(self) -> int: ...


def ring(client: redis.Redis, estate: str, entries: Sequence[AuditEntry]) -> None:
    """Tell every gateway of ``estate`` the trail has grown (best effort: they poll too)."""
    if not entries:
        return
    try:
        client.publish(CHANNEL + estate, str(entries[-1].seq))
    except redis.RedisError as exc:
        log.warning("could not ring the audit doorbell (gateways will poll): %s", exc)


class RemoteFeed:
    """New entries of a trail that other processes append to, for this process's
    subscribers (``subscribe`` as ``AuditTrail.subscribe``: batches, in sequence order)."""

    def __init__(
        self, client: redis.Redis, estate: str, trail: TrailReader, *, poll_s: float = 1.0
    ) -> None:
        self.client = client
        self.channel = CHANNEL + estate
        self.trail = trail
        self.poll_s = poll_s
        self._subscribers = Subscribers()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = 0

    def subscribe(self, callback: Callable[[list[AuditEntry]], None]) -> Callable[[], None]:
        return self._subscribers.subscribe(callback)

    def start(self) -> None:
        self._last = self.trail.last_seq()
        self._thread = threading.Thread(target=self._listen, name="audit-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.poll_s + 5)
            self._thread = None

    def _listen(self) -> None:
        pubsub: redis.client.PubSub | None = None
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                    pubsub.subscribe(self.channel)
                pubsub.get_message(timeout=self.poll_s)
            except redis.RedisError as exc:
                log.warning("audit doorbell: %s (polling the trail until Redis is back)", exc)
                if pubsub is not None:
                    pubsub.close()
                pubsub = None
                self._stop.wait(self.poll_s)
            try:
                self._catch_up()
            except OverloadedError as exc:  # the store is down for a while: keep listening
                log.warning("audit feed: %s (trying again)", exc)
                self._stop.wait(self.poll_s)
            except Exception:
                log.exception("audit feed: reading the trail failed")
                self._stop.wait(self.poll_s)
        if pubsub is not None:
            pubsub.close()

    def _catch_up(self) -> None:
        while True:
            entries = self.trail.after(self._last, limit=_PAGE)
            if not entries:
                return
            self._last = entries[-1].seq
            self._subscribers.queue(entries)
            self._subscribers.deliver()
            if len(entries) < _PAGE:
                return
