"""The gateway's side of the cluster: the commander runs in a worker, elsewhere.

- alerts go into the estate's alert stream (``submit`` returns once Redis has them);
- incidents are read from the shared incident store, thread state from the shared
  checkpoints (LangGraph's own ``get_state``), the clock from the estate registry;
- a person's operation goes into the same stream, in order with the alerts, and the gateway
  waits for the commanding worker's answer on a Redis list. A worker that does not answer in
  time leaves the operation queued: the caller is told so (503) and may look again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, cast

import redis

from orchestrator import evidence, operations
from orchestrator.backend import Series
from orchestrator.context import Clock, RunContext, ServiceProfile
from orchestrator.graph import build_graph
from orchestrator.intake import Signal
from orchestrator.live import Health
from orchestrator.operations import Operation
from orchestrator.store import IncidentStore
from services.aws.port import AwsPort
from services.cluster import locks
from services.cluster.parts import ClusterParts
from services.cluster.stream import Kind, unavailable
from services.errors import OverloadedError
from services.pg.estates import EstateRecord
from services.pg.incidents import PgIncidentStore
from services.pg.ledger import PgActionLedger

REFRESH_S = 1.0
"""How stale the gateway's view of the estate (its run and commanded step) may be."""


class RemoteBackend:
    def __init__(self, parts: ClusterParts, port: AwsPort, *, reply_timeout_s: float = 15.0):
        self.parts = parts
        self.port = port
        self.reply_timeout_s = reply_timeout_s
        self.graph = build_graph(parts.saver)
        self._lock = threading.Lock()
        self._record: EstateRecord | None = None
        self._loaded_at = 0.0
        self._stores: dict[str, PgIncidentStore] = {}
        self._contexts: dict[str, RunContext] = {}

    def _estate(self) -> EstateRecord:
        with self._lock:
            if self._record is None or time.monotonic() - self._loaded_at > REFRESH_S:
                self._record = self.parts.registry.load(self.parts.estate)
                self._loaded_at = time.monotonic()
            if self._record is None:
                raise OverloadedError(f"estate {self.parts.estate} is not registered yet")
            return self._record

    @property
    def clock(self) -> Clock:
        record = self._estate()
        return Clock(record.clock_start, record.step_s, max(0, record.commanded_step))

    @property
    def incidents(self) -> IncidentStore:
        run_id = self._estate().run_id
        with self._lock:
            store = self._stores.get(run_id)
            if store is None:  # the constructor makes sure of its tables: once per run
                store = self._stores[run_id] = PgIncidentStore(self.parts.pool, estate=run_id)
            return store

    def submit(self, signals: Sequence[Signal]) -> None:
        self.parts.stream.append(Kind.SIGNALS, {"signals": [asdict(s) for s in signals]})

    def state(self, incident_id: str) -> dict[str, Any]:
        snapshot = self.graph.get_state({"configurable": {"thread_id": incident_id}})
        return dict(snapshot.values)

    def operate(self, operation: Operation) -> bool:
        reply = f"ic:reply:{uuid.uuid4().hex}"
        body = {"operation": operations.to_json(operation), "reply": reply}
        self.parts.stream.append(Kind.OPERATION, body)
        try:
            got = self.parts.redis.blpop([reply], timeout=self.reply_timeout_s)
        except redis.RedisError as exc:
            raise unavailable("waiting for the worker's answer", exc) from exc
        if got is None:
            raise OverloadedError(
                f"no worker answered within {self.reply_timeout_s:g} s; the operation is "
                "queued and will be applied in order: look at the incident again shortly"
            )
        text = cast(tuple[bytes, bytes], got)[1].decode()
        result, _, message = text.partition("\n")
        return operations.raise_for(cast(operations.Outcome, result), message)

    def clock_of(self, incident_id: str) -> Clock:
        return self.clock  # a cluster's estate keeps one clock across workers and restarts

    def series(self, incident_id: str, services: set[str]) -> Series:
        record = self._estate()
        with self._lock:
            ctx = self._contexts.get(record.run_id)
            if ctx is None:
                ctx = self._contexts[record.run_id] = RunContext(
                    port=self.port,
                    estate=record.estate,
                    catalogue={k: ServiceProfile(**v) for k, v in record.catalogue.items()},
                    ledger=PgActionLedger(self.parts.pool, estate=record.run_id),
                    clock=self.clock,
                )
            ctx.clock.step = max(0, record.commanded_step)
            return evidence.series(ctx, services)

    def health(self) -> Health:
        """Running: a worker holds the estate's lease (some worker commands it) and has
        finished a turn within ``IC_WORKER_STALL_S`` (it is not stuck in one)."""
        length, _taken = self.parts.stream.backlog()
        try:
            step = max(0, self._estate().commanded_step)
        except OverloadedError as exc:
            return Health(False, 0, False, length, str(exc))
        holder = locks.holder(self.parts.redis, self.parts.estate)
        problem = None
        if holder is None:
            problem = "no worker commands the estate"
        elif not locks.progressing(self.parts.redis, self.parts.estate):
            stall = self.parts.settings.worker_stall_s
            problem = f"worker {holder} commands the estate but has finished no turn in {stall:g} s"
        return Health(problem is None, step, False, length, problem)
