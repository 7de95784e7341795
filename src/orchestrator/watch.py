"""Watching a real estate: an account or LocalStack, described by an estate file.

Nothing is simulated here. The estate changes by itself; the commander reads its metrics with
GetMetricData, its change history back from the resources, and its alerts arrive through the
gateway. What this module adds is the clock: a real estate's clock is the wall's, in whole
periods of the estate file's ``period`` counted from the Unix epoch, so every process (a
restarted ``serve``, each worker of a cluster) agrees on which step it is without being told,
and a thread waiting for step N after a restart waits for the same instant it waited for
before.

The step is the last *complete* period: the commander never judges a period whose datapoints
are still arriving (a half-counted minute of requests would look like a drop in traffic).

- ``WallClock``: the world of a live commander in one process (``orchestrator.live``);
- ``run_watch``: the same clock for a cluster (``incident-commander watch``): it registers the
  estate and publishes each step to the estate's alert stream, as ``run_world`` does for a
  simulated one.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.context import Clock
from orchestrator.world import append_step
from services.cluster.stream import AlertStream
from services.estate.realise import RealisedEstate
from services.pg.estates import EstateRecord, EstateRegistry

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Step 0 of every real estate's clock."""


@dataclass(frozen=True, slots=True)
class Tick:
    """One step of a real estate: its index, and no events (alerts come through the gateway)."""

    index: int
    events: list[dict[str, Any]] = field(default_factory=list)


class WallClock:
    """The world of a real estate for ``LiveCommander``: ``step`` answers the wall clock's
    step, and the estate never ends."""

    done = False

    def __init__(self, period_s: int, now: Callable[[], datetime] | None = None) -> None:
        if period_s < 1:
            raise ValueError("a real estate's period is at least one second")
        self.period_s = period_s
        self._now = now or (lambda: datetime.now(UTC))

    def clock(self) -> Clock:
        """The commander's clock, at the current step."""
        return Clock(start=EPOCH, step_s=self.period_s, step=self.index())

    def index(self) -> int:
        """The last complete period since the epoch."""
        elapsed = (self._now() - EPOCH) // timedelta(seconds=self.period_s)
        return int(elapsed) - 1

    def step(self) -> Tick:
        return Tick(self.index())

    def seconds_to_next(self) -> float:
        """Wall seconds until the next period completes."""
        elapsed = (self._now() - EPOCH).total_seconds()
        return self.period_s - elapsed % self.period_s


def run_watch(
    realised: RealisedEstate,
    *,
    name: str,
    registry: EstateRegistry,
    stream: AlertStream,
    stop: threading.Event,
    now: Callable[[], datetime] | None = None,
) -> int:
    """Register the real estate, then publish a step each period until ``stop``; returns the
    last step published."""
    wall = WallClock(realised.period_s, now)
    registry.publish(
        EstateRecord(
            name=name,
            run_id=realised.estate.run_id,
            scenario=f"estate:{realised.estate.run_id}",
            estate=realised.estate,
            catalogue={k: dataclasses.asdict(v) for k, v in realised.catalogue.items()},
            clock_start=EPOCH,
            step_s=realised.period_s,
            speed=1.0,
        )
    )
    log.info("estate %s (%d services) registered", name, len(realised.estate.services))
    last = -1
    while True:
        index = wall.index()
        if index > last:
            append_step(stream, {"run_id": realised.estate.run_id, "step": index, "events": []})
            last = index
        if stop.wait(wall.seconds_to_next()):
            return last
