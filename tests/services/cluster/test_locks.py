"""Leases and resource locks on a real Redis: one holder at a time, kept alive by its heartbeat
as long as it lives, lost (and known to be lost) once someone else has it, freed by itself
when its holder dies, and never released by anyone but its holder."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.cluster.locks import Lease, ResourceLocks, progressed, progressing
from services.cluster.parts import redis_client
from services.errors import ResourceBusyError

TTL = 0.6

DEAD_HOLDER = """
import sys
import redis
from services.cluster.locks import ResourceLocks

url, resource, ttl_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
held = ResourceLocks(redis.Redis.from_url(url), ttl_s=ttl_s).hold(resource)
held.__enter__()
print("held", flush=True)
sys.stdin.readline()  # killed here, never released
"""


@pytest.fixture
def leases(client: redis.Redis, name: str) -> Iterator[Callable[[str], Lease]]:
    """Makes leases on the test's name, one per holder; released after the test."""
    made: list[Lease] = []

    def lease(holder: str, *, on: redis.Redis = client) -> Lease:
        made.append(Lease(on, name, ttl_s=TTL, holder=holder))
        return made[-1]

    yield lease
    for lease_ in made:
        lease_.release()


def wait_until(check: Callable[[], bool], within: float) -> float:
    """Seconds until ``check`` held; fails when it did not within ``within`` seconds."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not so within {within:g} s")
        time.sleep(0.01)
    return time.monotonic() - started


# -- leases ---------------------------------------------------------------------------------------


def test_only_one_of_two_leases_on_one_name_is_taken(
    leases: Callable[[str], Lease],
) -> None:
    first, second = leases("worker-a"), leases("worker-b")

    assert first.acquire()
    assert not second.acquire()

    assert first.held
    assert not second.held
    assert second.holder_now() == "worker-a"


def test_a_free_lease_has_no_holder(leases: Callable[[str], Lease]) -> None:
    assert leases("worker-a").holder_now() is None


def test_the_heartbeat_keeps_the_lease_past_several_lifetimes(
    leases: Callable[[str], Lease], client: redis.Redis
) -> None:
    first, second = leases("worker-a"), leases("worker-b")
    assert first.acquire()

    time.sleep(TTL * 3.5)

    assert first.held
    assert not second.acquire()
    assert second.holder_now() == "worker-a"
    assert client.pttl(first.name) > 0


def test_a_released_lease_is_taken_by_the_other_at_once(
    leases: Callable[[str], Lease],
) -> None:
    first, second = leases("worker-a"), leases("worker-b")
    assert first.acquire()

    first.release()

    assert not first.held
    assert first.holder_now() is None
    assert second.acquire()
    assert first.holder_now() == "worker-b"
    assert not first.renew()


def test_a_holder_whose_lease_was_taken_stops_holding_it(
    leases: Callable[[str], Lease], client: redis.Redis
) -> None:
    first, second = leases("worker-a"), leases("worker-b")
    assert first.acquire()
    client.delete(first.name)  # it expired (a stalled holder), and
    assert second.acquire()  # someone else took it over

    assert not first.renew()
    assert not first.held
    first.release()  # late, and not its lease any more
    assert second.holder_now() == "worker-b"
    assert second.held


def test_the_heartbeat_finds_out_a_lease_was_taken_within_its_lifetime(
    leases: Callable[[str], Lease], client: redis.Redis
) -> None:
    first, second = leases("worker-a"), leases("worker-b")
    assert first.acquire()
    client.delete(first.name)
    assert second.acquire()

    wait_until(lambda: not first.held, within=TTL)  # nobody called renew: the heartbeat did

    time.sleep(TTL)  # its dead heartbeat does not touch the new holder's lease
    assert second.holder_now() == "worker-b"
    assert second.held


def test_a_holder_cut_off_from_redis_stops_holding_before_its_lease_could_expire(
    private_redis: str,
) -> None:
    ttl = 1.0
    private = redis_client(private_redis)
    lease = Lease(private, "cut-off", ttl_s=ttl, holder="worker-a")
    try:
        assert lease.acquire()
        time.sleep(ttl / 2)
        with redis.Redis.from_url(private_redis, retry=Retry(NoBackoff(), 0)) as killer:
            cut = time.monotonic()
            with contextlib.suppress(redis.ConnectionError):  # it hangs up as it goes
                killer.shutdown(nosave=True)

        assert lease.held  # one missed renewal is no reason to let go yet
        wait_until(lambda: not lease.held, within=ttl)
        assert time.monotonic() - cut <= ttl  # before its key in Redis could have expired
        assert not lease.renew()
    finally:
        lease.release()
        private.close()


# -- resource locks -------------------------------------------------------------------------------


def test_a_second_holder_waits_then_is_refused(client: redis.Redis, name: str) -> None:
    first = ResourceLocks(client, ttl_s=5, wait_s=0.3)
    second = ResourceLocks(client, ttl_s=5, wait_s=0.3)

    with first.hold(name):
        started = time.monotonic()
        with pytest.raises(ResourceBusyError, match=name), second.hold(name):
            pytest.fail("entered a resource another holder has")
        waited = time.monotonic() - started

    # redis-py tries every 0.1 s and gives up when its next try would come after the wait.
    assert 0.3 - 0.1 <= waited < 2


def test_a_waiting_holder_gets_in_once_the_first_releases(client: redis.Redis, name: str) -> None:
    locks = ResourceLocks(client, ttl_s=5, wait_s=3)
    inside, events = threading.Event(), []

    def first() -> None:
        with locks.hold(name):
            events.append("first in")
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(5)
        with locks.hold(name):
            events.append("second in")
    finally:
        thread.join(5)

    assert events == ["first in", "first out", "second in"]


def test_the_lock_of_a_holder_that_died_frees_itself_after_its_ttl(
    client: redis.Redis, name: str
) -> None:
    ttl = 0.8
    with subprocess.Popen(
        [sys.executable, "-c", DEAD_HOLDER, client_url(client), name, str(ttl)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    ) as dead:  # fmt: skip
        assert dead.stdout is not None
        held = dead.stdout.readline()
        held_at = time.monotonic()
        dead.kill()
    assert held == b"held\n"

    with ResourceLocks(client, ttl_s=5, wait_s=5).hold(name):
        waited = time.monotonic() - held_at

    assert ttl - 0.2 <= waited <= ttl + 1


def test_a_holder_that_outlived_its_lock_does_not_release_the_next_holders(
    client: redis.Redis, name: str
) -> None:
    slow = ResourceLocks(client, ttl_s=0.3, wait_s=1)
    nxt = ResourceLocks(client, ttl_s=5, wait_s=1)
    key = f"ic:lock:{name}"

    with ExitStack() as next_holds:
        with slow.hold(name):
            time.sleep(0.5)  # the action outlived its lock
            next_holds.enter_context(nxt.hold(name))
            taken_by_next = client.get(key)
        assert taken_by_next is not None
        assert client.get(key) == taken_by_next  # the slow holder's release left it alone
        with pytest.raises(ResourceBusyError), ResourceLocks(client, wait_s=0.1).hold(name):
            pass  # the next holder's lock is still there
    assert client.get(key) is None


def client_url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_a_lease_taken_again_soon_after_release_keeps_its_heartbeat(
    client: redis.Redis, name: str
) -> None:
    """Released and taken again while the first heartbeat still sleeps: the lease must still
    be renewed (it was not, once: a spurious fail-over one TTL after every first take-over)."""
    lease = Lease(client, name, ttl_s=0.6, holder="w1")
    assert lease.acquire()
    lease.release()
    time.sleep(0.05)
    assert lease.acquire()
    time.sleep(1.5)  # well past the TTL: only the heartbeat keeps it
    assert lease.held
    assert lease.holder_now() == "w1"
    lease.release()


# -- progress ---------------------------------------------------------------------------------


def test_a_progress_mark_is_seen_until_its_window_lapses(client: redis.Redis, name: str) -> None:
    assert not progressing(client, name)  # never marked
    progressed(client, name, within_s=0.5)
    assert progressing(client, name)
    wait_until(lambda: not progressing(client, name), within=3)
    progressed(client, name, within_s=0.5)  # a new turn renews it
    assert progressing(client, name)
