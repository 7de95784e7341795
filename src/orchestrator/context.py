"""What every node of a run needs and the graph does not checkpoint: clients, the estate's
catalogue, the ledger, policy and the clock. Passed as LangGraph's ``context``."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from agents.detection import Anomaly
from agents.finops import Budget
from agents.security import Policy
from orchestrator.consensus import ConsensusPolicy
from orchestrator.ledger import ActionClaims, ChangeHistory
from services.aws.port import AwsPort
from services.aws.resources import Estate, ServiceProfile
from services.aws.snapshot import Snapshot
from services.llm import Advisor
from services.metrics import CommanderMetrics
from services.settings import Settings, freeze_window

__all__ = ["ActionLocks", "Clock", "CommanderPolicy", "RunContext", "ServiceProfile"]


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
class CommanderPolicy:
    consensus: ConsensusPolicy = field(default_factory=ConsensusPolicy)
    security: Policy = field(default_factory=Policy)
    budget: Budget = field(default_factory=lambda: Budget(monthly_usd=50_000.0))
    persistence: int = 3
    """Consecutive anomalous points that confirm an incident."""
    verify_steps: int = 3
    max_rounds: int = 3
    freeze_windows: tuple[tuple[datetime, datetime], ...] = ()

    def security_at(self, now: datetime) -> Policy:
        """The security policy in force at ``now`` (a change freeze, or not)."""
        frozen = any(start <= now < end for start, end in self.freeze_windows)
        return replace(self.security, change_freeze=self.security.change_freeze or frozen)

    @classmethod
    def from_settings(cls, settings: Settings) -> CommanderPolicy:
        return cls(
            consensus=ConsensusPolicy(
                weights=dict(settings.consensus_weights),
                quorum=settings.consensus_quorum,
                auto_threshold=settings.consensus_auto_threshold,
                approval_threshold=settings.consensus_approval_threshold,
            ),
            budget=Budget(monthly_usd=settings.monthly_budget_usd),
            verify_steps=settings.verify_steps,
            max_rounds=settings.max_rounds,
            freeze_windows=tuple(freeze_window(w) for w in settings.change_freeze),
        )


class ActionLocks(Protocol):
    """One action at a time per resource, across workers (``services.cluster.locks``)."""

    def hold(self, resource: str) -> AbstractContextManager[None]: ...


@dataclass(slots=True)
class RunContext:
    port: AwsPort
    estate: Estate
    catalogue: dict[str, ServiceProfile]
    ledger: ActionClaims
    clock: Clock
    policy: CommanderPolicy = field(default_factory=CommanderPolicy)
    metrics: CommanderMetrics | None = None
    """Prometheus metrics fed by the commander; None records none."""
    changelog: ChangeHistory | None = None
    """Durable revision history; None keeps it in memory only (``changes``)."""
    changes: dict[str, list[int]] = field(default_factory=dict)
    """Service -> steps at which the commander saw its revision change."""
    date_first_deploys: bool = False
    """A watched estate (not a simulated one): at the first sighting of a service, a revision
    that replaced an earlier one is dated by AWS (``telemetry.deployed_at``) and counted as a
    change at that step when it is within ``FIRST_LOOK_STEPS`` of now."""
    llm: Advisor | None = None
    """A chat model's second opinion for diagnosis; None: the rule-based agents only."""
    causes: dict[tuple[str, str], str] = field(default_factory=dict)
    """Root causes being worked, ``(service, fault)`` -> the live incident working it. The
    commander keeps it; diagnosis reads it, so that a second incident finding a cause another
    one already owns closes into that one instead of acting on the same service again."""
    settled: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Service -> (step, fault): the step at which an incident whose top cause was that fault on
    that service ended resolved after an action succeeded. What the service showed before then
    (its anomalies, its log lines, its callers' lines blaming it) was that cause's evidence
    and does not count for a later incident, nor does the fault's log signature on it after
    (``diagnosis.Evidence.settled``): diagnosis does not re-blame a fixed cause unless its
    metrics show it again."""
    capacity_log: dict[str, dict[int, float]] = field(default_factory=dict)
    """Service -> step -> capacity, for services whose capacity is no CloudWatch metric (a
    Lambda function's reserved concurrency): read every step with the revisions, and served as
    their ``capacity`` series (``evidence.series``) so detection and diagnosis see it move."""
    rolled_back: dict[str, list[int]] = field(default_factory=dict)
    """Service -> steps at which the commander rolled its deployment back: the revision change
    that follows is its own doing, not a deploy diagnosis may blame for a later fault."""
    scaled: set[str] = field(default_factory=set)
    """Services whose capacity the commander changed: their capacity moving is its own doing,
    not an anomaly (the scan and detection leave it out)."""
    locks: ActionLocks | None = None
    """Locks taken around every AWS call that changes a service; None in one process, where
    the commander's single worker thread already acts on one thing at a time."""
    series_cache: dict[tuple[int, frozenset[str]], dict[str, dict[str, list[float]]]] = field(
        default_factory=dict
    )
    """This step's metric series by the services asked for (metrics of a step never change,
    so the fleet scan, detection, diagnosis and the voters share one read)."""
    anomaly_cache: dict[tuple[int, int], list[Anomaly]] = field(default_factory=dict)
    """This step's anomalies over the whole estate by persistence (``evidence.anomalies``):
    scored once per step, so the fleet scan and every incident's detection of that step share
    the scoring as they share the series (a storm opens many incidents in one step)."""
    reads_cache: dict[tuple[int, str], Snapshot] = field(default_factory=dict)
    """This step's capacity and revision per service (``evidence.snapshots``), read once, with
    the logs, for the services diagnosis may blame: the stages and the five voters of a step
    share it; cleared by every action taken."""
