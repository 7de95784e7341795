"""The alert stream on a real Redis: what a worker took and never acknowledged is adopted by
the next, whole and in order; handled messages are gone; a full backlog refuses; a dead Redis
is an error at once; an entry no worker can read is dead-lettered; the server says whether an
accepted alert would survive its crash."""

from __future__ import annotations

import json
import time

import pytest
import redis

from services.cluster.parts import redis_client
from services.cluster.stream import DEAD_LETTER_SUFFIX, AlertStream, Kind, Message
from services.errors import OverloadedError, RedisUnavailableError

BODIES: list[tuple[Kind, dict[str, object]]] = [
    (Kind.SIGNALS, {"signals": [{"service": "api", "severity": "sev2", "labels": {"a": "é"}}]}),
    (Kind.STEP, {"step": 7, "events": []}),
    (Kind.OPERATION, {"operation": {"op": "acknowledge", "by": "ana"}, "reply": "r-1"}),
]


def appended(stream: AlertStream) -> list[Message]:
    return [Message(stream.append(kind, body), kind, body) for kind, body in BODIES]


def test_what_a_dead_worker_took_is_adopted_by_the_next_whole_and_in_order(
    client: redis.Redis, name: str
) -> None:
    stream = AlertStream(client, name)
    stream.join()
    sent = appended(stream)

    taken = stream.take("worker-a", count=10, block_ms=100)
    assert taken == sent
    # worker-a dies here: nothing acknowledged.
    assert stream.take("worker-b", block_ms=50) == []  # taken once: not new to anyone
    assert stream.backlog() == (3, 3)

    adopted = stream.adopt("worker-b")

    assert adopted == sent
    pending = client.xpending_range(stream.key, "commanders", min="-", max="+", count=10)
    assert {entry["consumer"] for entry in pending} == {b"worker-b"}


def test_adopt_leaves_messages_idle_for_less_than_asked(client: redis.Redis, name: str) -> None:
    stream = AlertStream(client, name)
    stream.join()
    sent = appended(stream)
    stream.take("worker-a", block_ms=100)

    assert stream.adopt("worker-b", min_idle_ms=60_000) == []
    assert stream.adopt("worker-b", min_idle_ms=0) == sent


def test_done_messages_are_gone_and_never_adopted(client: redis.Redis, name: str) -> None:
    stream = AlertStream(client, name)
    stream.join()
    first, second, third = appended(stream)
    stream.take("worker-a", block_ms=100)

    stream.done([first.id, second.id])

    assert stream.backlog() == (1, 1)
    assert stream.adopt("worker-b") == [third]
    assert stream.oldest_ms() == int(third.id.split("-")[0])
    stream.done([third.id])
    assert stream.backlog() == (0, 0)
    assert stream.adopt("worker-c") == []
    assert stream.oldest_ms() is None
    assert client.xlen(stream.key) == 0


def test_a_full_backlog_refuses_an_append_whole_until_workers_catch_up(
    client: redis.Redis, name: str
) -> None:
    stream = AlertStream(client, name, max_backlog=2)
    stream.join()
    first = stream.append(Kind.STEP, {"step": 1, "events": []})
    stream.append(Kind.STEP, {"step": 2, "events": []})

    with pytest.raises(OverloadedError) as refused:
        stream.append(Kind.STEP, {"step": 3, "events": []})

    assert not isinstance(refused.value, RedisUnavailableError)
    assert "limit 2" in str(refused.value)
    assert [body["step"] for _, body in _bodies(client, stream.key)] == [1, 2]
    stream.take("worker-a", count=1, block_ms=100)
    stream.done([first])
    stream.append(Kind.STEP, {"step": 3, "events": []})
    assert [body["step"] for _, body in _bodies(client, stream.key)] == [2, 3]


def test_the_backlog_counts_messages_waiting_before_any_worker_joined(
    client: redis.Redis, name: str
) -> None:
    stream = AlertStream(client, name)  # gateways accept alerts; no worker has started yet
    appended(stream)

    assert stream.backlog() == (3, 0)
    assert stream.oldest_ms() is not None


def test_an_unreachable_redis_is_an_error_at_once_not_a_hang(unreachable_url: str) -> None:
    dead = redis_client(unreachable_url)
    stream = AlertStream(dead, "nowhere")
    calls = {
        "append": lambda: stream.append(Kind.STEP, {"step": 1, "events": []}),
        "take": lambda: stream.take("worker-a", block_ms=100),
    }
    try:
        for call in calls.values():
            started = time.monotonic()
            with pytest.raises(RedisUnavailableError, match="Redis is unavailable"):
                call()
            assert time.monotonic() - started < 3
    finally:
        dead.close()


def test_an_entry_no_worker_can_read_is_dead_lettered_and_never_returned(
    client: redis.Redis, name: str
) -> None:
    stream = AlertStream(client, name)
    stream.join()
    good = stream.append(Kind.STEP, {"step": 1, "events": []})
    bad = {
        client.xadd(stream.key, {"kind": "gossip", "body": "{}"}).decode(): "kind",
        client.xadd(stream.key, {"kind": "step", "body": "{not json"}).decode(): "json",
        client.xadd(stream.key, {"kind": "step", "body": "[1, 2]"}).decode(): "array",
        client.xadd(stream.key, {"body": "{}"}).decode(): "no kind",
    }
    last = stream.append(Kind.STEP, {"step": 2, "events": []})

    taken = stream.take("worker-a", count=10, block_ms=100)

    assert [m.id for m in taken] == [good, last]
    assert stream.backlog() == (2, 2)
    dead = client.xrange(stream.key + DEAD_LETTER_SUFFIX)
    assert [fields[b"original_id"].decode() for _, fields in dead] == list(bad)
    assert dead[0][1][b"kind"] == b"gossip"  # what was sent is kept for people
    assert dead[1][1][b"body"] == b"{not json"
    assert all(fields[b"reason"] for _, fields in dead)
    assert stream.adopt("worker-b") == taken  # the buried ones are not pending anywhere


def test_an_unreadable_entry_left_pending_by_an_older_worker_is_dead_lettered_on_adoption(
    client: redis.Redis, name: str
) -> None:
    stream = AlertStream(client, name)
    stream.join()
    bad = client.xadd(stream.key, {"kind": "step", "body": "null"}).decode()
    good = stream.append(Kind.STEP, {"step": 1, "events": []})
    client.xreadgroup("commanders", "old-worker", {stream.key: ">"}, count=10)

    adopted = stream.adopt("worker-b")

    assert [m.id for m in adopted] == [good]
    dead = client.xrange(stream.key + DEAD_LETTER_SUFFIX)
    assert [fields[b"original_id"].decode() for _, fields in dead] == [bad]
    assert stream.backlog() == (1, 1)


def test_durability_names_a_redis_without_its_append_only_file(client: redis.Redis) -> None:
    if client.config_get("appendonly").get("appendonly") != "no":
        pytest.skip("the local Redis runs with its append-only file")

    assert AlertStream(client, "any").durability() == (
        "Redis runs without its append-only file (appendonly no)"
    )


def test_durability_is_none_when_redis_syncs_every_write_and_names_a_lazier_sync(
    private_redis: str,
) -> None:
    private = redis_client(private_redis)
    try:
        stream = AlertStream(private, "any")
        assert stream.durability() is None

        private.config_set("appendfsync", "everysec")
        reason = stream.durability()
        assert reason is not None
        assert "'everysec'" in reason
    finally:
        private.close()


def _bodies(client: redis.Redis, key: str) -> list[tuple[str, dict[str, object]]]:
    return [(i.decode(), json.loads(f[b"body"])) for i, f in client.xrange(key)]
