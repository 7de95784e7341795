"""A simulated estate as a process of its own, for the cluster (``incident-commander world``).

In a real deployment the estate is an AWS account: it changes by itself, and its events reach
the commander through the gateway. The simulated estate plays that part here. It builds its
resources against the shared AWS endpoint, registers them (``EstateRegistry``) so every
worker and gateway sees the same estate, and then moves its clock at ``speed``: each step's
EventBridge events go into the estate's alert stream with the step number, so the commanding
worker moves its own clock by the stream, in order with the alerts around it.

The world never drops a step: when Redis is away it retries the append until Redis is back
(the estate's clock goes on regardless, as a real one would).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time

from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_never,
    wait_exponential,
)

from orchestrator.runner import catalogue_of
from services.aws.port import AwsPort
from services.cluster.stream import AlertStream, Kind
from services.errors import OverloadedError
from services.pg.estates import EstateRecord, EstateRegistry
from services.scenario.loader import LoadedScenario
from services.simulator.simulation import Simulation

log = logging.getLogger(__name__)


def run_world(
    port: AwsPort,
    loaded: LoadedScenario,
    *,
    name: str,
    registry: EstateRegistry,
    stream: AlertStream,
    speed: float,
    stop: threading.Event,
) -> Simulation:
    """Build the estate, register it, and step it until its scenario ends or ``stop``."""
    scenario = loaded.scenario
    sim = Simulation(port, scenario)
    estate = sim.setup()
    catalogue = catalogue_of(scenario, sim.profiles)
    registry.publish(
        EstateRecord(
            name=name,
            run_id=sim.run_id,
            scenario=scenario.name,
            estate=estate,
            catalogue={k: dataclasses.asdict(v) for k, v in catalogue.items()},
            clock_start=sim.start,
            step_s=scenario.step,
            speed=speed,
        )
    )
    log.info("estate %s (run %s, %s) registered", name, sim.run_id, scenario.name)
    step_wall_s = scenario.step / speed
    due = time.monotonic()
    while not sim.done:
        if stop.wait(max(0.0, due - time.monotonic())):
            break
        due += step_wall_s
        report = sim.step()
        # The events are plain JSON already (EventBridge's own shape); round-trip to be sure.
        events = json.loads(json.dumps(report.events, default=str))
        append_step(stream, {"run_id": sim.run_id, "step": report.index, "events": events})
    return sim


@retry(
    retry=retry_if_exception_type(OverloadedError),  # Redis away, or the backlog full
    wait=wait_exponential(multiplier=0.2, max=5),
    stop=stop_never,
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)
def append_step(stream: AlertStream, body: dict[str, object]) -> None:
    """Append one step of an estate's clock to its stream, waiting out Redis."""
    stream.append(Kind.STEP, body)
