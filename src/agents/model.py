"""The vocabulary agents share: hypotheses, candidate actions, votes.

These are TypedDicts, not classes, because they live in the incident graph's state and go
through its checkpointer as plain data; the agents never import each other, only this module.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict


class AgentName(StrEnum):
    DETECTION = "detection"
    DIAGNOSIS = "diagnosis"
    REMEDIATION = "remediation"
    FINOPS = "finops"
    SECURITY = "security"


class Stance(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ABSTAIN = "abstain"


Risk = Literal["low", "medium", "high"]
Severity = Literal["sev1", "sev2", "sev3", "sev4"]


class Hypothesis(TypedDict):
    """A suspected root cause, with the evidence for it."""

    service: str
    fault: str
    confidence: float
    evidence: list[str]


class Candidate(TypedDict):
    """An action from the catalogue, proposed for one service, with what it risks."""

    id: str
    action: str
    service: str
    params: dict[str, Any]
    addresses: str
    """The fault kind this action is meant to cure."""
    risk: Risk
    reversible: bool
    destructive: bool
    """Interrupts service or loses state (reboots, restarts, failovers)."""
    protected: bool
    """Targets a resource the estate marks protected."""
    widens_exposure: bool
    expected_effect: str
    rollback: str | None
    rank: int
    cause: NotRequired[str]
    """The service of the hypothesis this action addresses when it is not ``service`` itself:
    capacity for a dependency that a traffic spike's load reaches addresses the spike on the
    service it hit. Absent: ``service``."""


class Vote(TypedDict):
    """One agent's stance on one candidate."""

    agent: str
    candidate: str
    stance: str
    confidence: float
    rationale: str
    evidence: list[str]
    veto: bool
    round: NotRequired[int]
    """The remediation round the vote was cast in (set by the graph, not by the agents)."""


def candidate_id(action: str, service: str, params: dict[str, Any]) -> str:
    """A stable id for an action on a service with its parameters (same inputs, same id)."""
    blob = json.dumps([action, service, params], sort_keys=True, default=str)
    return f"{action}:{service}:{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def make_candidate(
    action: str,
    service: ServiceFacts,
    params: dict[str, Any],
    *,
    addresses: str,
    risk: Risk,
    reversible: bool,
    destructive: bool,
    effect: str,
    rollback: str | None,
    rank: int,
    cause: str | None = None,
) -> Candidate:
    """A candidate for ``action`` on ``service``; its id follows from action, service, params.
    ``cause``: the service of the hypothesis it addresses, when another (``Candidate.cause``)."""
    candidate = Candidate(
        id=candidate_id(action, service["name"], params),
        action=action,
        service=service["name"],
        params=params,
        addresses=addresses,
        risk=risk,
        reversible=reversible,
        destructive=destructive,
        protected=service["protected"],
        widens_exposure=False,
        expected_effect=effect,
        rollback=rollback,
        rank=rank,
    )
    if cause is not None and cause != service["name"]:
        candidate["cause"] = cause
    return candidate


def cause_of(candidate: Candidate) -> str:
    """The service whose hypothesis ``candidate`` addresses (``Candidate.cause``)."""
    return candidate.get("cause", candidate["service"])


def vote(
    agent: AgentName,
    candidate: Candidate,
    stance: Stance,
    confidence: float,
    rationale: str,
    evidence: list[str] | None = None,
    *,
    veto: bool = False,
) -> Vote:
    return Vote(
        agent=agent.value,
        candidate=candidate["id"],
        stance=stance.value,
        confidence=max(0.0, min(1.0, confidence)),
        rationale=rationale,
        evidence=list(evidence or []),
        veto=veto,
    )


class ServiceFacts(TypedDict):
    """What the agents know of one service, read back from AWS and the estate's catalogue."""

    name: str
    kind: str
    tier: str
    protected: bool
    capacity: int
    baseline_capacity: int
    max_capacity: int
    unit_cost_per_hour: float
    downtime_cost_per_min: float
    at_stake_per_min: float
    """What a minute of this service failing costs: its own downtime and that of every service
    that calls it, directly or not (their requests fail with it)."""
    previous_revision: str | None
    compromised_instances: list[str]
    exposed_ports: list[int]
    access_key_id: str | None
    pressure: float
    """Estimated CPU now over a 60 % target at the current capacity (1.0: just right);
    how many times the capacity must grow to absorb the load."""
