"""What every node of a run needs and the graph does not checkpoint: clients, the estate's
catalogue, the ledger, policy and the clock. Passed as LangGraph's ``context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agents.finops import Budget
from agents.security import Policy
from orchestrator.consensus import ConsensusPolicy
from orchestrator.ledger import ActionLedger
from services.aws.port import AwsPort
from services.aws.resources import Estate


@dataclass(slots=True)
class Clock:
    """The commander's notion of now: a step index on a fixed period from ``start``."""

    start: datetime
    step_s: int
    step: int = 0

    @property
    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.step * self.step_s)

    def at(self, step: int) -> datetime:
        return self.start + timedelta(seconds=step * self.step_s)


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """What the estate's catalogue says of a service (tier, protection, price, capacity)."""

    name: str
    kind: str
    tier: str
    protected: bool
    baseline_capacity: int
    max_capacity: int
    unit_cost_per_hour: float
    downtime_cost_per_min: float


@dataclass(frozen=True, slots=True)
class CommanderPolicy:
    consensus: ConsensusPolicy = field(default_factory=ConsensusPolicy)
    security: Policy = field(default_factory=Policy)
    budget: Budget = field(default_factory=lambda: Budget(monthly_usd=50_000.0))
    persistence: int = 3
    """Consecutive anomalous points that confirm an incident."""
    verify_steps: int = 3
    max_rounds: int = 3


@dataclass(slots=True)
class RunContext:
    port: AwsPort
    estate: Estate
    catalogue: dict[str, ServiceProfile]
    ledger: ActionLedger
    clock: Clock
    policy: CommanderPolicy = field(default_factory=CommanderPolicy)
    changes: dict[str, list[int]] = field(default_factory=dict)
    """Service -> steps at which the commander saw its revision change."""
