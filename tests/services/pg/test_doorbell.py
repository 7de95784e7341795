"""The audit doorbell: a gateway's ``RemoteFeed`` hands its subscribers what another process
appended to the shared trail, in sequence order and once each, whether the ring arrives or
is lost (then the feed's own polling finds the entries).

Two ``PgAuditTrail`` objects on two pools of one schema stand for the two processes."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis

from conftest import skip_or_fail
from services.audit import AuditEntry, AuditRecord
from services.cluster.doorbell import CHANNEL, RemoteFeed, ring
from services.cluster.parts import redis_client
from services.pg.audit import PgAuditTrail
from services.pg.pool import Pool

REDIS = os.environ.get("IC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NEVER = 30.0
"""A polling period no test waits for: what arrives sooner came because of the ring."""


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis_client(REDIS)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        skip_or_fail(f"Redis is not reachable at {REDIS}: {exc}")
    yield client
    client.close()


@pytest.fixture
def estate() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"  # a channel of the test's own (pub/sub keeps no keys)


class Received:
    """A feed subscriber that keeps every batch it is handed."""

    def __init__(self) -> None:
        self.batches: list[list[AuditEntry]] = []
        self._changed = threading.Condition()

    def __call__(self, entries: list[AuditEntry]) -> None:
        with self._changed:
            self.batches.append(entries)
            self._changed.notify_all()

    @property
    def entries(self) -> list[AuditEntry]:
        with self._changed:
            return [entry for batch in self.batches for entry in batch]

    def wait_for(self, count: int, within: float) -> None:
        with self._changed:
            got = self._changed.wait_for(lambda: sum(map(len, self.batches)) >= count, within)
        assert got, f"{sum(map(len, self.batches))} of {count} entries within {within:g} s"


@contextmanager
def feeding(
    client: redis.Redis, estate: str, trail: PgAuditTrail, *, poll_s: float
) -> Iterator[Received]:
    """A started feed of ``trail`` with one subscriber, listening once this returns."""
    feed = RemoteFeed(client, estate, trail, poll_s=poll_s)
    received = Received()
    feed.subscribe(received)
    feed.start()
    try:
        deadline = time.monotonic() + 5
        while client.pubsub_numsub(CHANNEL + estate)[0][1] < 1:
            assert time.monotonic() < deadline, "the feed did not subscribe within 5 s"
            time.sleep(0.01)
        yield received
    finally:
        # The feed waits for a ring (or its polling period) before it looks at its stop flag.
        stopper = threading.Thread(target=feed.stop)
        stopper.start()
        while stopper.is_alive():
            client.publish(CHANNEL + estate, "0")
            stopper.join(0.05)


def records(*notes: str) -> list[AuditRecord]:
    return [AuditRecord("commander", "note", "inc-1", {"text": note}) for note in notes]


def two_processes(
    new_pool: Callable[..., Pool], on_commit: Callable[[list[AuditEntry]], None] | None
) -> tuple[PgAuditTrail, PgAuditTrail]:
    """(the worker's trail, the gateway's trail): one table, two pools."""
    return PgAuditTrail(new_pool(), on_commit=on_commit), PgAuditTrail(new_pool())


def test_what_another_process_appends_is_delivered_on_its_ring_in_order_once(
    new_pool: Callable[..., Pool], client: redis.Redis, estate: str
) -> None:
    worker, gateway = two_processes(new_pool, lambda entries: ring(client, estate, entries))
    worker.append(records("before the gateway listened"))
    stored: list[AuditEntry] = []

    with feeding(client, estate, gateway, poll_s=NEVER) as received:
        for batch in (["a"], ["b", "c", "d"], ["e", "f"]):
            stored += worker.append(records(*batch))
            received.wait_for(len(stored), within=5)
        time.sleep(0.3)  # anything delivered twice would be here by now

    assert [e.seq for e in received.entries] == [2, 3, 4, 5, 6, 7]
    assert received.entries == stored
    assert [e.data["text"] for e in received.entries] == ["a", "b", "c", "d", "e", "f"]


def test_entries_whose_ring_was_lost_are_delivered_by_polling_in_order_once(
    new_pool: Callable[..., Pool], client: redis.Redis, estate: str
) -> None:
    worker, gateway = two_processes(new_pool, on_commit=None)  # it never rings
    worker.append(records("before the gateway listened"))
    stored: list[AuditEntry] = []

    with feeding(client, estate, gateway, poll_s=0.2) as received:
        for batch in (["a"], ["b", "c", "d"], ["e", "f"]):
            stored += worker.append(records(*batch))
            received.wait_for(len(stored), within=3)
        time.sleep(1.0)  # five more polls: nothing comes twice

    assert [e.seq for e in received.entries] == [2, 3, 4, 5, 6, 7]
    assert received.entries == stored


def test_two_workers_appending_at_once_reach_the_feed_in_sequence_order_once(
    new_pool: Callable[..., Pool], client: redis.Redis, estate: str
) -> None:
    hook: Callable[[list[AuditEntry]], None] = lambda entries: ring(client, estate, entries)  # noqa: E731
    workers = [PgAuditTrail(new_pool(), on_commit=hook) for _ in range(2)]
    gateway = PgAuditTrail(new_pool())
    rounds = 20

    with feeding(client, estate, gateway, poll_s=NEVER) as received:

        def work(index: int) -> None:
            for n in range(rounds):
                workers[index].append(records(f"w{index}-{n}"))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        received.wait_for(2 * rounds, within=5)
        time.sleep(0.3)

    assert [e.seq for e in received.entries] == list(range(1, 2 * rounds + 1))
    texts = [e.data["text"] for e in received.entries]
    for index in range(2):
        assert [t for t in texts if t.startswith(f"w{index}-")] == [
            f"w{index}-{n}" for n in range(rounds)
        ]


def test_a_gateway_cut_off_from_redis_still_gets_every_entry_by_polling(
    new_pool: Callable[..., Pool], estate: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    dead = redis_client(nowhere)
    worker, gateway = two_processes(new_pool, lambda entries: ring(dead, estate, entries))
    feed = RemoteFeed(dead, estate, gateway, poll_s=0.2)
    received = Received()
    feed.subscribe(received)
    feed.start()
    try:
        stored = worker.append(records("a", "b")) + worker.append(records("c"))
        received.wait_for(len(stored), within=5)
        time.sleep(0.5)
    finally:
        feed.stop()
        dead.close()

    assert received.entries == stored
