"""The commander run live, for the gateway: a worker thread owns it and moves its clock, and
other threads hand it alerts (``submit``, answered at once) or ask it things (``call``).

The commander is not thread-safe and does not need to be: every change to it happens on the
worker's lock. ``submit`` only queues the signals and wakes the worker, so the gateway answers
an alert delivery in microseconds while the graph runs behind it. Reading incident summaries
takes no lock (the commander's store is safe to share between threads); reading a
thread's full state reads its checkpoint, which the checkpointer guards itself.

The world the commander watches is one of two:

- on embedded defaults, a built-in scenario simulated live against the emulator: each step of
  its clock takes ``step_s / speed`` wall seconds. When the scenario's clock runs out the
  estate stands still and the API goes on serving what happened;
- an estate file realised against an account or LocalStack (``services.estate``): nothing is
  simulated, the clock is the wall's (``orchestrator.watch.WallClock``), and alerts arrive
  only through the gateway.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from langchain_core.callbacks import BaseCallbackHandler

from orchestrator import journal, restart
from orchestrator.checkpoints import open_checkpointer
from orchestrator.commander import Commander
from orchestrator.context import Clock, CommanderPolicy, RunContext
from orchestrator.graph import build_graph
from orchestrator.intake import Signal
from orchestrator.journal import Trail
from orchestrator.ledger import ActionLedger, ChangeLedger
from orchestrator.runner import catalogue_of
from orchestrator.state_dir import (
    CHECKPOINTS_FILE,
    LEDGER_FILE,
    STATE_FILE,
    Inbox,
    RunClocks,
    SqliteIncidentStore,
)  # fmt: skip
from orchestrator.watch import WallClock
from services.aws.port import AwsPort
from services.errors import ConfigurationError
from services.estate.realise import RealisedEstate
from services.llm import Advisor
from services.metrics import CommanderMetrics
from services.scenario.loader import LoadedScenario
from services.settings import AwsMode
from services.simulator.simulation import Simulation

log = logging.getLogger(__name__)
T = TypeVar("T")


class Step(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def events(self) -> list[dict[str, Any]]: ...


class World(Protocol):
    """What moves the commander's clock: a simulation, or a real estate's wall clock."""

    @property
    def done(self) -> bool: ...

    def step(self) -> Step: ...


@dataclass(frozen=True, slots=True)
class Health:
    running: bool
    step: int
    estate_done: bool
    queued: int
    last_error: str | None


class LiveCommander:
    def __init__(
        self,
        commander: Commander,
        *,
        world: World | None,
        step_wall_s: float,
        inbox: Inbox,
        clocks: RunClocks | None = None,
    ) -> None:
        self.commander = commander
        self.clocks = clocks
        """Each run's clock (its steps kept as they move): an incident is dated on its own."""
        self.world = world
        self.step_wall_s = step_wall_s
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inbox = inbox
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self.unrouted = 0
        self._stepped = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the live commander is already running")
        self._thread = threading.Thread(target=self._work, name="commander", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def max_queued(self) -> int:
        """How many accepted alerts may wait for the worker before deliveries are refused."""
        return self._inbox.max_queued

    @max_queued.setter
    def max_queued(self, value: int) -> None:
        self._inbox.max_queued = value

    # -- what other threads call ----------------------------------------------------------------

    def submit(self, signals: Sequence[Signal]) -> None:
        """Commit alerts to the inbox on disk for the worker; returns once they are there (a
        202 means kept). ``OverloadedError`` (and nothing kept) when the inbox is full: the
        sender, told to retry, keeps the alerts."""
        self._inbox.accept(signals)
        self._wake.set()

    def call(self, function: Callable[[Commander], T]) -> T:
        """Run ``function`` on the commander under the worker's lock (queued alerts first, so
        an answer never overtakes an alert delivered before it)."""
        with self._lock:
            self._drain()
            return function(self.commander)

    def advance(self, steps: int = 1) -> int:
        """Step the estate ``steps`` times now, whatever the wall clock says (for a paused
        estate, ``IC_DEMO_SPEED`` tiny, in tests and walkthroughs); returns the clock's step."""
        with self._lock:
            self._drain()  # alerts delivered before this call arrived at the current step
            for _ in range(steps):
                self._step()
                self._drain()
            return self.commander.ctx.clock.step

    def clock_of(self, incident_id: str) -> Clock:
        """The clock ``incident_id``'s steps are on: its run's (this one's, or an earlier
        run's kept in the state directory)."""
        store, clocks = self.commander.store, self.clocks
        if clocks is not None and isinstance(store, SqliteIncidentStore):
            run = store.run_of(incident_id)
            if run is not None and run != store.run_id and (kept := clocks.clock(run)):
                return kept
        return self.commander.ctx.clock

    def health(self) -> Health:
        world = self.world
        return Health(
            running=self._thread is not None and self._thread.is_alive(),
            step=self.commander.ctx.clock.step,
            estate_done=world is None or world.done,
            queued=len(self._inbox),
            last_error=self._last_error,
        )

    # -- the worker -----------------------------------------------------------------------------

    def _work(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                with self._lock:
                    self._drain()
                    if time.monotonic() >= due:
                        due += self.step_wall_s
                        self._step()
                        self._drain()
            except Exception as exc:  # the worker must outlive one bad step; say what broke
                log.exception("commander step failed")
                self._last_error = f"{type(exc).__name__}: {exc}"

    def _step(self) -> None:
        world = self.world
        if world is None or world.done:
            return
        report = world.step()
        if self._stepped and report.index <= self.commander.ctx.clock.step:
            return  # a wall clock's period has not completed since the last step
        self._stepped = True
        self.commander.ctx.clock.step = report.index
        if self.clocks is not None:
            self.clocks.record(self.commander.ctx.estate.run_id, self.commander.ctx.clock)
        self.commander.tick()
        self.commander.ingest(report.events)

    def _drain(self) -> None:
        """Ingest every alert of the inbox, oldest first, and only then forget it: a process
        killed in between ingests it again on restart, which opens nothing twice."""
        while batch := self._inbox.peek():
            try:
                _, unrouted = self.commander.ingest_signals([signal for _, signal in batch])
                self.unrouted += unrouted
            except Exception:
                log.exception("ingesting %d alerts failed; retrying them one by one", len(batch))
                for _, signal in batch:
                    self._ingest_alone(signal)
            self._inbox.done([seq for seq, _ in batch])

    def _ingest_alone(self, signal: Signal) -> None:
        """Ingest one alert; one that fails even alone is recorded whole in the audit trail
        with the error (a bug of ours must neither lose it nor stall the alerts behind it)."""
        try:
            _, unrouted = self.commander.ingest_signals([signal])
            self.unrouted += unrouted
        except Exception as exc:
            log.exception(
                "alert %s from %s could not be ingested", signal.fingerprint, signal.source
            )
            self._last_error = f"{type(exc).__name__}: {exc}"
            fields = json.loads(json.dumps(asdict(signal), default=str))
            if self.commander.trail is not None:
                self.commander.trail.append([journal.failed(fields, self._last_error)])


@contextmanager
def open_live(
    port: AwsPort,
    source: LoadedScenario | RealisedEstate,
    *,
    state_dir: Path | None,
    policy: CommanderPolicy,
    trail: Trail | None,
    metrics: CommanderMetrics | None,
    speed: float,
    approval_ttl_s: int,
    max_queued: int = 100_000,
    postgres_url: str | None = None,
    callbacks: Sequence[BaseCallbackHandler] = (),
    llm: Advisor | None = None,
) -> Iterator[LiveCommander]:
    """A live commander over ``source``'s estate against ``port``; stopped on exit.

    - a scenario (``LoadedScenario``) is simulated: its estate is built anew at each start, so
      its state files are named after its run id and a new start begins a new history;
    - an estate file realised against AWS (``RealisedEstate``) is watched on the wall clock:
      its run id is the estate's name, so a restart re-adopts every thread left open.
    """
    world: World
    if isinstance(source, RealisedEstate):
        wall = WallClock(source.period_s)
        world, estate, catalogue, clock = wall, source.estate, source.catalogue, wall.clock()
        speed = 1.0
    else:
        if port.mode is AwsMode.ACCOUNT:
            raise ConfigurationError(
                "an account is watched through an estate file (IC_ESTATE_FILE; write one with "
                "`incident-commander estate discover`), never simulated on"
            )
        scenario = source.scenario
        sim = Simulation(port, scenario)
        estate = sim.setup()
        world, catalogue = sim, catalogue_of(scenario, sim.profiles)
        clock = Clock(start=sim.start, step_s=scenario.step)
    with _folder(state_dir) as folder, ExitStack() as stack:
        state = folder / STATE_FILE
        store = SqliteIncidentStore(state, estate.run_id)
        stack.callback(store.close)
        clocks = RunClocks(state)
        stack.callback(clocks.close)
        inbox = Inbox(state, max_queued)
        stack.callback(inbox.close)
        ledger = ActionLedger(folder / LEDGER_FILE)
        stack.callback(ledger.close)
        changelog = ChangeLedger(folder / LEDGER_FILE, estate=estate.run_id)
        stack.callback(changelog.close)
        ctx = RunContext(
            port=port,
            estate=estate,
            catalogue=catalogue,
            ledger=ledger,
            changelog=changelog,
            clock=clock,
            policy=policy,
            metrics=metrics,
            llm=llm,
            date_first_deploys=isinstance(source, RealisedEstate),
        )
        saver = stack.enter_context(open_checkpointer(folder / CHECKPOINTS_FILE, postgres_url))
        commander = Commander(
            build_graph(saver), ctx, trail=trail, callbacks=callbacks, store=store,
            # A person answers in wall time: the TTL is wall seconds at the live speed.
            approval_ttl_steps=max(1, math.ceil(approval_ttl_s * speed / clock.step_s)),
        )  # fmt: skip
        clocks.record(estate.run_id, clock)
        reopened = restart.take_over(commander, store, clocks)
        if reopened or len(inbox):
            log.info(
                "state %s: %d open incidents adopted, %d accepted alerts to ingest",
                folder, len(reopened), len(inbox),
            )  # fmt: skip
        live = LiveCommander(
            commander, world=world, step_wall_s=clock.step_s / speed, inbox=inbox, clocks=clocks
        )
        live.start()
        try:
            yield live
        finally:
            live.stop()


@contextmanager
def _folder(state_dir: Path | None) -> Iterator[Path]:
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        yield state_dir
        return
    with tempfile.TemporaryDirectory(prefix="incident-commander-") as tmp:
        yield Path(tmp)
