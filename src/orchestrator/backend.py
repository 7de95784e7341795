"""What the gateway needs of the commander, wherever the commander runs.

- ``LocalBackend``: the commander runs in the gateway's own process (``LiveCommander``), the
  embedded default;
- ``orchestrator.remote.RemoteBackend``: the commander runs in a worker of the cluster; the
  gateway appends to the estate's alert stream and reads the shared stores.

Routes call only this protocol, so both behave the same to an API client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from orchestrator import evidence, operations
from orchestrator.context import Clock
from orchestrator.intake import Signal
from orchestrator.live import Health, LiveCommander
from orchestrator.operations import Operation
from orchestrator.store import IncidentStore

Series = dict[str, dict[str, list[float]]]


class CommanderBackend(Protocol):
    @property
    def clock(self) -> Clock:
        """The commander's clock (the estate's step and time)."""
        ...

    @property
    def incidents(self) -> IncidentStore: ...

    def clock_of(self, incident_id: str) -> Clock:
        """The clock ``incident_id``'s steps are on (that of the run that opened it)."""
        ...

    def submit(self, signals: Sequence[Signal]) -> None:
        """Hand alerts over, durably where the backend can; ``OverloadedError`` (nothing
        taken) when it cannot take them now."""
        ...

    def state(self, incident_id: str) -> dict[str, Any]:
        """The incident thread's latest checkpointed state (empty: no such thread)."""
        ...

    def operate(self, operation: Operation) -> bool:
        """Apply a person's operation; True when it changed the incident. Raises the
        commander's ``IncidentNotFoundError`` and ``NotAwaitingApprovalError``."""
        ...

    def series(self, incident_id: str, services: set[str]) -> Series:
        """The services' metric series up to now, as the agents read them; empty for an
        incident of an earlier run (its estate is not the one watched now)."""
        ...

    def health(self) -> Health: ...


class LocalBackend:
    """The commander in this process: every change goes through its worker's lock."""

    def __init__(self, live: LiveCommander) -> None:
        self.live = live
        store = live.commander.store
        if store is None:
            raise ValueError("the live commander keeps no incident store")
        self._store = store

    @property
    def clock(self) -> Clock:
        return self.live.commander.ctx.clock

    @property
    def incidents(self) -> IncidentStore:
        return self._store

    def submit(self, signals: Sequence[Signal]) -> None:
        self.live.submit(signals)

    def state(self, incident_id: str) -> dict[str, Any]:
        return dict(self.live.commander.state(incident_id))

    def operate(self, operation: Operation) -> bool:
        return self.live.call(lambda commander: operations.apply(commander, operation))

    def clock_of(self, incident_id: str) -> Clock:
        return self.live.clock_of(incident_id)

    def series(self, incident_id: str, services: set[str]) -> Series:
        if self.live.clock_of(incident_id) is not self.clock:
            return {}  # an earlier run's estate: not the one whose metrics are read now
        # On the worker's lock: the step's series cache belongs to the commander's thread.
        return self.live.call(lambda commander: evidence.series(commander.ctx, services))

    def health(self) -> Health:
        return self.live.health()
