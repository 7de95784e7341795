"""The alert stream: gateways append, the workers of one consumer group take, at least once.

One Redis stream per estate (``ic:alerts:<estate>``) carries, in order, what the estate's
commander must see: alert deliveries from the gateways, the simulated estate's steps (its
clock and EventBridge events) and people's operations (acknowledge, approve, ...). A gateway
answers 202 only once ``append`` has returned, so an accepted alert is in Redis; with
``appendfsync always`` it is on Redis's disk too (``durability`` says when it is not).

A worker reads with ``XREADGROUP`` and acknowledges a message (``done``: ``XACK`` and
``XDEL`` in one transaction) only after what it did is committed to Postgres. A worker that
dies leaves its messages pending; the worker taking over adopts them with ``XAUTOCLAIM``.
Processing is idempotent (incident ids, audit keys and the action ledger are derived from
the message), so a message handled twice changes nothing the second time.

The stream is not trimmed by length (that could drop messages no worker has taken); it stays
short because handled messages are deleted, and ``append`` refuses new ones past
``max_backlog`` (the gateway answers 503 and the sender keeps its alerts).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import redis

from services.errors import OverloadedError, RedisUnavailableError

log = logging.getLogger(__name__)

GROUP = "commanders"
"""The consumer group every worker of an estate joins."""
DEAD_LETTER_SUFFIX = ":dead"
"""Messages that cannot be handled at all are moved to ``<stream>:dead``, kept for people."""
_CLAIM_BATCH = 100


class Kind(StrEnum):
    SIGNALS = "signals"
    """A gateway's alert delivery: ``{"signals": [Signal as JSON, ...]}``."""
    STEP = "step"
    """The simulated estate moved: ``{"step": n, "events": [EventBridge event, ...]}``."""
    OPERATION = "operation"
    """A person's operation on an incident: ``{"operation": {...}, "reply": key}``."""


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    kind: Kind
    body: dict[str, Any]


class MalformedMessageError(ValueError):
    """A stream entry this version cannot read (dead-lettered, never retried)."""


def unavailable(what: str, exc: redis.RedisError) -> RedisUnavailableError:
    return RedisUnavailableError(f"Redis is unavailable ({what}): {exc}")


class AlertStream:
    def __init__(self, client: redis.Redis, estate: str, *, max_backlog: int = 100_000) -> None:
        self.client = client
        self.key = f"ic:alerts:{estate}"
        self.max_backlog = max_backlog

    # -- gateways and the estate ---------------------------------------------------------------

    def append(self, kind: Kind, body: Mapping[str, Any]) -> str:
        """Add one message; return its id. ``OverloadedError`` (nothing added) when the
        backlog is full, ``RedisUnavailableError`` when Redis does not answer."""
        try:
            backlog = cast(int, self.client.xlen(self.key))
            if backlog >= self.max_backlog:
                raise OverloadedError(
                    f"{backlog} messages wait for the workers (limit {self.max_backlog})"
                )
            fields = {"kind": kind.value, "body": json.dumps(body, separators=(",", ":"))}
            return _text(self.client.xadd(self.key, fields))  # type: ignore[arg-type]
        except redis.RedisError as exc:
            raise unavailable("appending to the alert stream", exc) from exc

    def durability(self) -> str | None:
        """Why an appended message could be lost by a Redis crash; None when Redis syncs
        every write to its append-only file (or will not say: managed Redis often hides
        CONFIG)."""
        try:
            config = cast(dict[str, str], self.client.config_get("append*"))
        except redis.ResponseError:
            return None
        except redis.RedisError as exc:
            raise unavailable("reading its configuration", exc) from exc
        if config.get("appendonly") != "yes":
            return "Redis runs without its append-only file (appendonly no)"
        if config.get("appendfsync") != "always":
            return f"Redis syncs its append-only file {config.get('appendfsync')!r}, not 'always'"
        return None

    # -- workers -------------------------------------------------------------------------------

    def join(self) -> None:
        """Create the consumer group (and the stream) unless it exists."""
        try:
            self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise unavailable("creating the consumer group", exc) from exc
        except redis.RedisError as exc:
            raise unavailable("creating the consumer group", exc) from exc

    def take(self, consumer: str, *, count: int = 100, block_ms: int = 1000) -> list[Message]:
        """New messages for ``consumer`` (waiting up to ``block_ms`` for the first)."""
        try:
            got = self.client.xreadgroup(
                GROUP, consumer, {self.key: ">"}, count=count, block=block_ms
            )
        except redis.RedisError as exc:
            raise unavailable("reading the alert stream", exc) from exc
        entries: list[tuple[Any, dict[Any, Any]]] = []
        for _stream, items in cast(list[tuple[Any, list[Any]]], got or []):
            entries.extend(items)
        return self._messages(entries)

    def adopt(self, consumer: str, *, min_idle_ms: int = 0) -> list[Message]:
        """Every message pending for any consumer of the group, now ``consumer``'s, oldest
        first (a worker taking the estate over finishes what its predecessor left)."""
        entries: list[tuple[Any, dict[Any, Any]]] = []
        cursor = "0-0"
        try:
            while True:
                reply = cast(
                    list[Any],
                    self.client.xautoclaim(
                        self.key, GROUP, consumer, min_idle_ms, cursor, count=_CLAIM_BATCH
                    ),
                )
                cursor, claimed = _text(reply[0]), reply[1]
                entries.extend(e for e in claimed if e is not None and e[1] is not None)
                if cursor == "0-0":
                    break
        except redis.RedisError as exc:
            raise unavailable("adopting pending messages", exc) from exc
        return self._messages(entries)

    def done(self, ids: Sequence[str]) -> None:
        """Acknowledge and delete handled messages, both or neither."""
        if not ids:
            return
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.key, GROUP, *ids)
            pipe.xdel(self.key, *ids)
            pipe.execute()
        except redis.RedisError as exc:
            raise unavailable("acknowledging messages", exc) from exc

    def bury(self, message_id: str, raw: Mapping[str, Any], reason: str) -> None:
        """Move a message no worker can handle to the dead-letter stream, then drop it."""
        try:
            pipe = self.client.pipeline(transaction=True)
            fields = {**{str(k): str(v) for k, v in raw.items()}, "reason": reason[:1000]}
            fields["original_id"] = message_id
            pipe.xadd(self.key + DEAD_LETTER_SUFFIX, fields)  # type: ignore[arg-type]
            pipe.xack(self.key, GROUP, message_id)
            pipe.xdel(self.key, message_id)
            pipe.execute()
        except redis.RedisError as exc:
            raise unavailable("dead-lettering a message", exc) from exc
        log.error("message %s moved to %s: %s", message_id, self.key + DEAD_LETTER_SUFFIX, reason)

    def backlog(self) -> tuple[int, int]:
        """(messages in the stream, messages taken but not yet acknowledged)."""
        try:
            length = cast(int, self.client.xlen(self.key))
            try:
                pending = cast(dict[str, Any], self.client.xpending(self.key, GROUP))
            except redis.ResponseError:  # no worker has joined yet: nothing taken
                return length, 0
        except redis.RedisError as exc:
            raise unavailable("measuring the backlog", exc) from exc
        return length, int(pending.get("pending", 0))

    def oldest_ms(self) -> int | None:
        """When the oldest message not yet handled was appended (Unix ms); None: none."""
        try:
            first = cast(list[Any], self.client.xrange(self.key, count=1))
        except redis.RedisError as exc:
            raise unavailable("reading the oldest message", exc) from exc
        if not first:
            return None
        return int(_text(first[0][0]).split("-", 1)[0])

    def _messages(self, entries: list[tuple[Any, dict[Any, Any]]]) -> list[Message]:
        out: list[Message] = []
        for raw_id, raw in entries:
            message_id = _text(raw_id)
            fields = {_text(k): _text(v) for k, v in raw.items()}
            try:
                out.append(_parse(message_id, fields))
            except MalformedMessageError as exc:
                self.bury(message_id, fields, str(exc))
        return out


def _parse(message_id: str, fields: Mapping[str, str]) -> Message:
    try:
        kind = Kind(fields["kind"])
        body = json.loads(fields["body"])
    except (KeyError, ValueError) as exc:
        raise MalformedMessageError(f"not a commander message: {exc}") from exc
    if not isinstance(body, dict):
        raise MalformedMessageError("the body is not a JSON object")
    return Message(message_id, kind, body)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
