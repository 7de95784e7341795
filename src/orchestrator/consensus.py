"""Consensus: turn every agent's votes on every candidate into one decision. Pure.

The rules, in the order they apply (``docs/consensus.md`` explains each):

1. **Veto.** A candidate the security agent vetoes is out, whatever else votes for it.
2. **Support.** A candidate's score is the weighted mean of its non-abstaining votes, each
   ``+confidence`` (approve) or ``-confidence`` (reject), normalised by the total weight of
   those voters, so it lies in [-1, 1]. Abstentions neither help nor hurt.
3. **Quorum and independence.** A candidate needs ``quorum`` non-abstaining voters and at least
   ``min_approvers`` distinct approving agents: no single agent, however confident, can carry
   an action on its own.
4. **Choice.** Among eligible candidates, the highest score wins; ties go to the safer one
   (reversible first, then lower risk, then not destructive), then to the lower rank, then the
   id, so the outcome never depends on input order.
5. **Outcome.** The winner executes when its score reaches the auto threshold for the
   incident's severity and nothing about it requires a person (a destructive action on a
   protected resource, a high-risk action, or risk above what the severity allows). Otherwise
   a person is asked when its score reaches the approval threshold; otherwise the incident is
   escalated if any candidate had support, and nothing is done if none did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from agents.model import AgentName, Candidate, Severity, Stance, Vote, cause_of

Outcome = Literal["execute", "approval", "escalate", "no_action"]
_RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class ConsensusPolicy:
    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            AgentName.DETECTION.value: 1.0,
            AgentName.DIAGNOSIS.value: 1.5,
            AgentName.REMEDIATION.value: 1.0,
            AgentName.FINOPS.value: 0.75,
            AgentName.SECURITY.value: 1.5,
        }
    )
    quorum: int = 3
    min_approvers: int = 2
    auto_threshold: float = 0.5
    approval_threshold: float = 0.15
    max_auto_risk: Mapping[str, str] = field(
        default_factory=lambda: dict.fromkeys(("sev1", "sev2", "sev3", "sev4"), "medium")
    )
    """The riskiest action that may run unattended, by incident severity. By default every
    severity allows medium: the scenario format's one approval rule is about protected data,
    and a sev3 (a database whose connections run out before its callers' alarms fire) is not
    less urgent to fix. A stricter operator lowers it for the severities they choose."""

    def __post_init__(self) -> None:
        if self.min_approvers < 2:
            raise ValueError("min_approvers must be at least 2: no agent may act alone")
        if not 0 <= self.approval_threshold <= self.auto_threshold <= 1:
            raise ValueError("thresholds must satisfy 0 <= approval <= auto <= 1")


@dataclass(frozen=True, slots=True)
class Tally:
    candidate: str
    score: float
    approvers: tuple[str, ...]
    rejecters: tuple[str, ...]
    voters: int
    vetoed_by: tuple[str, ...]
    eligible: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    candidate: str | None
    rule: str
    """The rule that decided, in words, for the audit trail."""
    tallies: tuple[Tally, ...]
    matrix: dict[str, dict[str, str]]
    """Candidate id -> agent -> "stance (confidence)", the full vote matrix."""
    also: tuple[str, ...] = ()
    """With ``execute``: more candidates that run in the same round (``companions``)."""


def tally(candidate: Candidate, votes: Sequence[Vote], policy: ConsensusPolicy) -> Tally:
    """Score one candidate from the votes cast on it (one vote per agent; the last one counts)."""
    latest: dict[str, Vote] = {}
    for v in votes:
        if v["candidate"] == candidate["id"]:
            latest[v["agent"]] = v
    weighted = 0.0
    total = 0.0
    approvers: list[str] = []
    rejecters: list[str] = []
    vetoes: list[str] = []
    for agent, v in sorted(latest.items()):
        if v["veto"] and agent == AgentName.SECURITY.value:
            vetoes.append(agent)
        if v["stance"] == Stance.ABSTAIN.value:
            continue
        weight = policy.weights.get(agent, 0.0)
        if weight <= 0:
            continue
        sign = 1.0 if v["stance"] == Stance.APPROVE.value else -1.0
        weighted += weight * sign * v["confidence"]
        total += weight
        (approvers if sign > 0 else rejecters).append(agent)
    score = weighted / total if total else 0.0
    voters = len(approvers) + len(rejecters)
    if vetoes:
        reason = "vetoed by security"
    elif voters < policy.quorum:
        reason = f"no quorum ({voters} of {policy.quorum} voters)"
    elif len(approvers) < policy.min_approvers:
        reason = f"{len(approvers)} approving agent(s), {policy.min_approvers} needed"
    else:
        reason = "eligible"
    return Tally(
        candidate["id"],
        round(score, 6),
        tuple(approvers),
        tuple(rejecters),
        voters,
        tuple(vetoes),
        reason == "eligible",
        reason,
    )


def needs_person(candidate: Candidate, severity: Severity, policy: ConsensusPolicy) -> str | None:
    """Why ``candidate`` may not run unattended, or None when it may."""
    if candidate["protected"] and candidate["destructive"]:
        # The spec's rule: destructive actions on what holds data never run unattended. Growing
        # its storage or closing a port opened to the internet is not destructive: waiting for a
        # person there leaves a database full or exposed.
        return "destructive action on a protected resource"
    if candidate["risk"] == "high":
        return "high-risk action"
    allowed = policy.max_auto_risk.get(severity, "low")
    if _RISK_ORDER[candidate["risk"]] > _RISK_ORDER[allowed]:
        return f"{candidate['risk']}-risk action above what {severity} allows unattended"
    return None


CAPACITY_PLAN = frozenset({"scale-out"})
"""Actions that may run together in one round when they address one cause on several services."""


def companions(chosen: Candidate, others: Sequence[Candidate]) -> tuple[str, ...]:
    """The candidates that run beside ``chosen`` in one round: capacity for the same cause on
    other services (a spike's load saturating the services it calls). Capacity lands on
    different resources, is reversible and is verified together; one service per round would
    let the load's harm run on for a verification window per dependency. Any other action
    runs alone, so that its effect can be told apart. ``others``: candidates that may run
    unattended, best first."""
    if chosen["action"] not in CAPACITY_PLAN:
        return ()
    services = {chosen["service"]}
    out = []
    for other in others:
        if (
            other["action"] == chosen["action"]
            and cause_of(other) == cause_of(chosen)
            and other["addresses"] == chosen["addresses"]
            and other["service"] not in services
        ):
            services.add(other["service"])
            out.append(other["id"])
    return tuple(out)


def decide(
    candidates: Sequence[Candidate],
    votes: Sequence[Vote],
    severity: Severity,
    policy: ConsensusPolicy | None = None,
) -> Decision:
    """The decision for one round of voting."""
    policy = policy or ConsensusPolicy()
    by_id = {c["id"]: c for c in candidates}
    tallies = tuple(tally(c, votes, policy) for c in candidates)
    matrix: dict[str, dict[str, str]] = {c["id"]: {} for c in candidates}
    for v in votes:
        if v["candidate"] in matrix:
            matrix[v["candidate"]][v["agent"]] = f"{v['stance']} ({v['confidence']:.2f})"
    eligible = sorted(
        (t for t in tallies if t.eligible),
        key=lambda t: (
            -t.score,
            not by_id[t.candidate]["reversible"],
            _RISK_ORDER[by_id[t.candidate]["risk"]],
            by_id[t.candidate]["destructive"],
            by_id[t.candidate]["rank"],
            t.candidate,
        ),
    )
    if not candidates:
        return Decision("no_action", None, "no candidate actions were proposed", tallies, matrix)
    if eligible:
        best = eligible[0]
        chosen = by_id[best.candidate]
        why_person = needs_person(chosen, severity, policy)
        if best.score >= policy.auto_threshold and why_person is None:
            rule = (
                f"score {best.score:.2f} >= auto threshold {policy.auto_threshold:.2f} with "
                f"{len(best.approvers)} approving agents ({', '.join(best.approvers)})"
            )
            unattended = [
                by_id[t.candidate]
                for t in eligible[1:]
                if t.score >= policy.auto_threshold
                and not t.vetoed_by
                and needs_person(by_id[t.candidate], severity, policy) is None
            ]
            also = companions(chosen, unattended)
            if also:
                rule += f"; with {', '.join(also)} for the same cause"
            return Decision("execute", best.candidate, rule, tallies, matrix, also)
        if best.score >= policy.approval_threshold:
            reason = why_person or (
                f"score {best.score:.2f} below auto threshold {policy.auto_threshold:.2f}"
            )
            return Decision("approval", best.candidate, f"ask a person: {reason}", tallies, matrix)
    if all(t.vetoed_by for t in tallies):
        return Decision("escalate", None, "every candidate was vetoed by security", tallies, matrix)
    if any(t.approvers for t in tallies):
        reasons = "; ".join(f"{t.candidate}: {t.reason}" for t in tallies)
        return Decision("escalate", None, f"no candidate carried: {reasons}", tallies, matrix)
    return Decision("no_action", None, "no agent supported any candidate", tallies, matrix)
