"""A worker of the cluster (``incident-commander worker``): commands one estate while it holds
the estate's lease, and stands by otherwise.

Several workers run per estate; one commands. It holds ``ic:lease:<estate>`` (renewed by a
heartbeat, checked before every message), and takes the estate's alert stream in order:
alert deliveries, the estate's steps (its clock) and people's operations. Every message is
acknowledged only once what it caused is committed to Postgres (checkpoints, incident
summaries, audit trail, action ledger). A standby takes the lease when the commander's
expires (it died, or lost Redis): it rebuilds the commander from Postgres, adopts the
messages left pending, and goes on. Handling a message twice changes nothing (see
``services.cluster.stream``).

Failure is handled by starting over (crash-only): when a message cannot be handled, the
commander is dropped and rebuilt from what is durable, and the message is handled again. A
store that is down is waited out; a message that fails for any other reason three times is
moved to the dead-letter stream, so one bad message cannot stop an estate.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import redis
from langchain_core.callbacks import BaseCallbackHandler
from prometheus_client import CollectorRegistry, Gauge

from orchestrator import operations
from orchestrator.commander import Commander
from orchestrator.context import Clock, CommanderPolicy, RunContext, ServiceProfile
from orchestrator.correlation import NOISE_SUPPRESSION_STEPS
from orchestrator.evidence import HISTORY_STEPS
from orchestrator.graph import build_graph
from orchestrator.intake import Signal
from orchestrator.summary import IncidentSummary
from services.aws.port import AwsPort
from services.cluster import doorbell, locks
from services.cluster.locks import Lease, ResourceLocks
from services.cluster.parts import ClusterParts
from services.cluster.stream import Kind, Message
from services.errors import OverloadedError
from services.llm import Advisor
from services.metrics import CommanderMetrics
from services.pg.audit import PgAuditTrail
from services.pg.estates import EstateRecord
from services.pg.incidents import PgIncidentStore
from services.pg.ledger import PgActionLedger, PgChangeLedger

log = logging.getLogger(__name__)

POISON_ATTEMPTS = 3
"""Failures (other than a store being down) after which a message is dead-lettered."""
REPLY_TTL_S = 120
"""How long an operation's answer waits in Redis for the gateway that asked."""
_LIVE_STATUSES = {"open", "confirmed", "mitigating", "awaiting_approval", "escalated"}
"""Incidents a new commander must track: alerts may still join them (escalated ones too)."""
_TRANSIENT = (OverloadedError, psycopg.OperationalError, redis.ConnectionError)


class _NewRunError(Exception):
    """The world restarted the estate: rebuild the commander for the new run."""


@dataclass(slots=True)
class _Command:
    """The commander of one run of the estate, and what it writes through."""

    record: EstateRecord
    commander: Commander
    closers: list[Any] = field(default_factory=list)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.leader = Gauge(
            "ic_worker_leader", "1 while this worker commands its estate.", registry=registry
        )
        self.pending = Gauge(
            "ic_stream_pending",
            "Messages in the estate's alert stream not yet handled.",
            registry=registry,
        )
        self.lag = Gauge(
            "ic_stream_lag_seconds",
            "Age of the oldest message of the alert stream not yet handled.",
            registry=registry,
        )


class Worker:
    def __init__(
        self,
        parts: ClusterParts,
        port: AwsPort,
        *,
        name: str,
        policy: CommanderPolicy,
        metrics: CommanderMetrics | None = None,
        worker_metrics: WorkerMetrics | None = None,
        callbacks: Sequence[BaseCallbackHandler] = (),
        llm: Advisor | None = None,
        approval_ttl_s: int = 900,
        batch: int = 50,
    ) -> None:
        self.parts = parts
        self.port = port
        self.name = name
        self.policy = policy
        self.metrics = metrics
        self.worker_metrics = worker_metrics
        self.callbacks = list(callbacks)
        self.llm = llm
        self.approval_ttl_s = approval_ttl_s
        self.batch = batch
        self.lease = Lease(parts.redis, parts.estate, ttl_s=parts.settings.lease_ttl_s, holder=name)
        self.locks = ResourceLocks(parts.redis)
        self.failures: dict[str, int] = {}
        self._command: _Command | None = None
        self._backlog: list[Message] = []
        self._marked_at = -math.inf
        """When this worker last marked its progress in Redis (``time.monotonic``)."""

    def run(self, stop: threading.Event) -> None:
        """Command or stand by until ``stop``; then hand the lease back."""
        idle = self.parts.settings.lease_ttl_s / 4
        try:
            while not stop.is_set():
                if self._command is None and not self._try(self._take_over):
                    stop.wait(idle)
                    continue
                if not self._try(self._turn):
                    stop.wait(min(idle, 1.0))
        finally:
            self._drop("stopping")
            self.lease.release()

    # -- taking over and letting go -------------------------------------------------------------

    def _take_over(self) -> bool:
        if not self.lease.held and not self.lease.acquire():
            return False
        self.parts.stream.join()
        record = self.parts.registry.load(self.parts.estate)
        if record is None:
            log.info("estate %s is not registered yet; waiting for it", self.parts.estate)
            self.lease.release()
            return False
        self._command = self._build(record)
        self._backlog = self.parts.stream.adopt(self.name)
        log.info(
            "%s commands estate %s (run %s) from step %d; %d messages adopted",
            self.name, record.name, record.run_id, record.commanded_step, len(self._backlog),
        )  # fmt: skip
        if self.worker_metrics is not None:
            self.worker_metrics.leader.set(1)
        self._marked_at = -math.inf
        self._progressed()
        return True

    def _build(self, record: EstateRecord) -> _Command:
        pool = self.parts.pool
        ledger = PgActionLedger(pool, estate=record.run_id)
        changelog = PgChangeLedger(pool, estate=record.run_id)
        store = PgIncidentStore(pool, estate=record.run_id)
        trail = PgAuditTrail(
            pool, on_commit=lambda entries: doorbell.ring(self.parts.redis, record.name, entries)
        )
        ctx = RunContext(
            port=self.port,
            estate=record.estate,
            catalogue={k: ServiceProfile(**v) for k, v in record.catalogue.items()},
            ledger=ledger,
            changelog=changelog,
            clock=Clock(
                start=record.clock_start, step_s=record.step_s, step=max(0, record.commanded_step)
            ),
            policy=self.policy,
            metrics=self.metrics,
            llm=self.llm,
            locks=self.locks,
            date_first_deploys=record.scenario.startswith("estate:"),  # watched, not simulated
        )
        commander = Commander(
            build_graph(self.parts.saver), ctx, trail=trail, callbacks=self.callbacks,
            approval_ttl_steps=max(
                1, math.ceil(self.approval_ttl_s * record.speed / record.step_s)
            ),
            store=store,
        )  # fmt: skip
        commander.recover(to_track(store, ctx.clock))
        return _Command(record, commander, [trail])

    def _drop(self, why: str) -> None:
        if self._command is None:
            return
        log.warning("%s stops commanding %s: %s", self.name, self.parts.estate, why)
        for closer in self._command.closers:
            closer.close()
        self._command = None
        self._backlog = []
        if self.worker_metrics is not None:
            self.worker_metrics.leader.set(0)

    # -- one turn --------------------------------------------------------------------------------

    def _turn(self) -> bool:
        if not self.lease.held:  # its heartbeat could not renew it: someone else may command
            self._drop("lost the lease")
            return False
        messages = self._backlog or self.parts.stream.take(
            self.name, count=self.batch, block_ms=500
        )
        self._backlog = []
        self._measure()
        for message in messages:
            if not self.lease.held:
                self._drop("the lease ran out during a batch")
                return False
            if not self._handle_safely(message):
                self._backlog = []  # rebuilt commanders adopt everything left pending
                return False
            self._progressed()
        self._progressed()  # an idle turn too: the commander is not stuck, just has no work
        return True

    def _progressed(self) -> None:
        """Mark progress, at most a few times per stall window (not one Redis call a message)."""
        stall = self.parts.settings.worker_stall_s
        now = time.monotonic()
        if now - self._marked_at >= min(1.0, stall / 4):
            locks.progressed(self.parts.redis, self.parts.estate, within_s=stall)
            self._marked_at = now

    def _handle_safely(self, message: Message) -> bool:
        command = self._command
        assert command is not None
        try:
            self._handle(command, message)
        except _NewRunError as exc:
            self._drop(f"the estate started a new run ({exc})")
            return False
        except _TRANSIENT as exc:
            self._drop(f"a store is unavailable ({exc}); will rebuild and retry")
            return False
        except Exception as exc:
            attempts = self.failures.get(message.id, 0) + 1
            self.failures[message.id] = attempts
            log.exception("message %s failed (attempt %d)", message.id, attempts)
            if attempts >= POISON_ATTEMPTS:
                self.parts.stream.bury(
                    message.id, {"kind": message.kind.value}, f"{type(exc).__name__}: {exc}"
                )
                self.failures.pop(message.id, None)
            self._drop("a message failed; rebuilding from the stores")
            return False
        self.parts.stream.done([message.id])
        self.failures.pop(message.id, None)
        return True

    def _handle(self, command: _Command, message: Message) -> None:
        commander, record = command.commander, command.record
        body = message.body
        if message.kind is Kind.SIGNALS:
            signals = [Signal(**s) for s in body["signals"]]
            commander.ingest_signals(signals)
        elif message.kind is Kind.STEP:
            if body.get("run_id") != record.run_id:
                fresh = self.parts.registry.load(self.parts.estate)
                if fresh is None or fresh.run_id != body.get("run_id"):
                    log.warning("step of unknown run %s skipped", body.get("run_id"))
                    return
                raise _NewRunError(fresh.run_id)
            step = int(body["step"])
            if step <= record.commanded_step:
                return  # handled before a failover; its effects are durable
            commander.ctx.clock.step = step
            commander.tick()
            commander.ingest(list(body["events"]))
            self.parts.registry.commanded(record.name, record.run_id, step)
            command.record = replace(record, commanded_step=step)
        elif message.kind is Kind.OPERATION:
            result, text = operations.outcome(
                commander, operations.from_json(dict(body["operation"]))
            )
            reply = str(body["reply"])
            pipe = self.parts.redis.pipeline(transaction=True)
            pipe.rpush(reply, f"{result}\n{text}")
            pipe.expire(reply, REPLY_TTL_S)
            pipe.execute()

    def _measure(self) -> None:
        if self.worker_metrics is None:
            return
        length, _taken = self.parts.stream.backlog()
        self.worker_metrics.pending.set(length)
        oldest = self.parts.stream.oldest_ms()
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)
        self.worker_metrics.lag.set(age)

    def _try(self, step: Callable[[], bool]) -> bool:
        """Run one step of the loop; a store or Redis being down is logged and waited out."""
        try:
            return step()
        except _TRANSIENT as exc:
            self._drop(f"unavailable: {exc}")
            log.warning("%s: %s; retrying", self.name, exc)
            return False


def to_track(store: PgIncidentStore, clock: Clock) -> list[str]:
    """The incidents a commander rebuilt from the stores adopts: the live ones first, then
    those ended recently enough to matter still. A closed-as-noise incident matters while a
    repeat of its alert would be suppressed (``correlation``). A resolved one matters while
    the evidence window (``evidence.HISTORY_STEPS``) holds what it did: the capacity it
    changed and the deploy it rolled back are the commander's own doing, not an anomaly or a
    change to blame, and the cause it fixed is not blamed again on the evidence from before
    (``RunContext.scaled``, ``rolled_back``, ``settled``, rebuilt from their threads). Older
    ones need not be tracked again."""
    live = [s.id for s in _summaries(store, _LIVE_STATUSES)]
    within = {
        "noise": clock.at(clock.step - NOISE_SUPPRESSION_STEPS),
        "resolved": clock.at(clock.step - HISTORY_STEPS),
    }
    ended = [
        s.id for s in _summaries(store, set(within)) if s.updated_at >= within[s.status]
    ]  # fmt: skip
    return [*live, *ended]


def _summaries(store: PgIncidentStore, statuses: set[str]) -> Iterator[IncidentSummary]:
    cursor: str | None = None
    while True:
        items, cursor = store.page(
            statuses=statuses, severities=set(), service=None, limit=200, cursor=cursor
        )
        yield from items
        if cursor is None:
            return
