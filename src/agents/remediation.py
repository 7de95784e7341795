"""Remediation: candidate actions from the catalogue for each hypothesis, with typed
parameters, risk, reversibility, the expected effect and the action that undoes it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.model import (
    AgentName,
    Candidate,
    Hypothesis,
    Risk,
    ServiceFacts,
    Stance,
    Vote,
    make_candidate,
    vote,
)


@dataclass(frozen=True, slots=True)
class Play:
    action: str
    risk: Risk
    reversible: bool
    destructive: bool
    rollback: str | None
    effect: str


_SCALE_OUT = Play("scale-out", "low", True, False, "scale-in", "more capacity lowers per-unit load")
_ROLLBACK = Play(
    "rollback-deployment",
    "low",
    True,
    False,
    "rollback-deployment",
    "previous revision's behaviour",
)
_RESTART = Play("restart-service", "medium", False, True, None, "fresh tasks, state cleared")
"""Medium for a single unit; a rolling restart of two or more is proposed as low risk."""
_REBOOT = Play(
    "reboot-database", "medium", False, True, None, "connections dropped, engine restarted"
)
_FAILOVER = Play("failover-database", "medium", False, True, None, "standby takes over")

PLAYBOOK: dict[str, list[Play]] = {
    "bad-deploy": [_ROLLBACK, _RESTART, _SCALE_OUT],
    "memory-leak": [_RESTART, _SCALE_OUT],
    "cpu-saturation": [_SCALE_OUT, _RESTART],
    "traffic-spike": [_SCALE_OUT],
    "dependency-latency": [_FAILOVER, _REBOOT],
    "connection-exhaustion": [_REBOOT, _FAILOVER],
    "disk-full": [
        Play("increase-storage", "low", False, False, None, "free storage restored, writes succeed")
    ],
    "credential-compromise": [
        Play(
            "deactivate-access-key", "low", True, False, None, "stolen key can no longer sign calls"
        )
    ],
    "instance-compromise": [
        # destructive: the instance stops serving (a database's host, its data with it)
        Play("isolate-instance", "low", False, True, None, "instance cut off, evidence kept")
    ],
    "security-group-exposure": [
        Play("revoke-ingress-rule", "low", True, False, None, "port closed to the internet")
    ],
    "cost-runaway": [
        Play("scale-in", "low", True, False, "scale-out", "capacity back to baseline")
    ],
}
"""Fault kind -> plays, best first: the spec's actions whose AWS call addresses each fault.
Containment for security faults is the security agent's to propose
(``agents.security.propose_containment``)."""


LOAD_CARRIED = frozenset({"traffic-spike"})
"""Faults whose harm is load the service passes on: every request it serves calls its
dependencies, so the spike's load saturates them too, and capacity where it lands addresses the
same cause."""


def propose(
    hypotheses: Sequence[Hypothesis],
    facts: Mapping[str, ServiceFacts],
    *,
    exclude: Sequence[str] = (),
    below: Mapping[str, Sequence[str]] | None = None,
) -> list[Candidate]:
    """Candidates for the hypotheses, in order; ``exclude`` holds ids already tried.

    ``below``: for a service, the services its requests reach (its dependencies, transitively,
    nearest first). For a load-carried fault (``LOAD_CARRIED``), each of them that the load
    saturates (``ServiceFacts.pressure``) gets scale-out for the same cause, after the target."""
    out: list[Candidate] = []
    seen: set[str] = set(exclude)
    for hyp in hypotheses:
        service = facts.get(hyp["service"])
        if service is None:
            continue
        # Only plays that address the fault, on the kinds they act on: where none fits (a CPU
        # saturated database, say), nothing is proposed and the incident is escalated with
        # that reason; a reboot "to see" would drop every connection and fix nothing.
        targets = [service]
        if hyp["fault"] in LOAD_CARRIED:
            reached = (below or {}).get(hyp["service"], ())
            targets += [facts[name] for name in reached if name in facts]
        for play in PLAYBOOK.get(hyp["fault"], []):
            for target in targets:
                if target is not service and play.action != "scale-out":
                    continue
                params = _params(play.action, hyp, target)
                if params is None:
                    continue
                candidate = make_candidate(
                    play.action,
                    target,
                    params,
                    addresses=hyp["fault"],
                    # a rolling replacement of two or more never drops below serving capacity
                    risk="low"
                    if play.action == "restart-service" and target["capacity"] >= 2
                    else play.risk,
                    reversible=play.reversible,
                    destructive=play.destructive,
                    effect=play.effect,
                    rollback=play.rollback,
                    rank=len(out),
                    cause=hyp["service"],
                )
                if candidate["id"] not in seen:
                    seen.add(candidate["id"])
                    out.append(candidate)
    return out


def _params(action: str, hyp: Hypothesis, service: ServiceFacts) -> dict[str, Any] | None:
    """Typed parameters for ``action`` on ``service``, or None when it does not apply."""
    kind = service["kind"]
    if action in {"scale-out", "scale-in", "rollback-deployment", "restart-service"}:
        if kind == "rds":
            return None
        if action == "restart-service" and kind == "lambda":
            return None
    if action in {"reboot-database", "failover-database", "increase-storage"} and kind != "rds":
        return None
    if action == "scale-out":
        if service["pressure"] < 1.0:
            # CPU at or below its target: more units would idle. The load has moved on (to a
            # dependency it saturates, say), or it was never capacity.
            return None
        current = max(1, service["capacity"])
        # Enough to bring CPU back to its target, and never less than half again.
        desired = max(current + 1, math.ceil(current * max(1.5, service["pressure"])))
        ceiling = max(service["max_capacity"], current * 4)
        return {"desired": min(desired, ceiling)}
    if action == "scale-in":
        if service["capacity"] <= service["baseline_capacity"]:
            return None
        return {"desired": service["baseline_capacity"]}
    if action == "rollback-deployment":
        if service["previous_revision"] is None:
            return None
        return {"to": service["previous_revision"]}
    return {}


def vote_on(candidate: Candidate) -> Vote:
    """The proposer's own stance: its first choice most strongly."""
    confidence = max(0.3, 0.9 - 0.2 * candidate["rank"])
    return vote(
        AgentName.REMEDIATION,
        candidate,
        Stance.APPROVE,
        confidence,
        f"{candidate['action']} on {candidate['service']}: {candidate['expected_effect']}",
        [f"risk {candidate['risk']}", f"rollback {candidate['rollback'] or 'none'}"],
    )
