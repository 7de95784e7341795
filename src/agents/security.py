"""Security: policy checks on every action, with a veto; containment for security incidents.

Policy:
- never widen exposure (veto);
- during a change freeze, only containment runs (veto the rest);
- no shrinking a critical or important service by more than half during an SLO incident;
- destructive actions on protected resources are approved only for a person to confirm
  (consensus never lets a protected target run unattended).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.model import AgentName, Candidate, ServiceFacts, Stance, Vote, vote

CONTAINMENT = frozenset({"deactivate-access-key", "isolate-instance", "revoke-ingress-rule"})
SECURITY_FAULTS = frozenset(
    {"credential-compromise", "instance-compromise", "security-group-exposure"}
)


@dataclass(frozen=True, slots=True)
class Policy:
    change_freeze: bool = False
    max_shrink: float = 0.5


def vote_on(
    candidate: Candidate,
    facts: Mapping[str, ServiceFacts],
    policy: Policy,
    *,
    slo_breached: bool,
) -> Vote:
    service = facts[candidate["service"]]
    action = candidate["action"]
    if candidate["widens_exposure"]:
        return vote(AgentName.SECURITY, candidate, Stance.REJECT, 1.0, "widens exposure", veto=True)
    if policy.change_freeze and action not in CONTAINMENT:
        return vote(
            AgentName.SECURITY, candidate, Stance.REJECT, 1.0,
            "change freeze in force: containment only", veto=True,
        )  # fmt: skip
    if action in CONTAINMENT:
        return vote(
            AgentName.SECURITY, candidate, Stance.APPROVE, 0.95,
            f"containment: {candidate['expected_effect']}",
        )  # fmt: skip
    if action == "scale-in" and slo_breached and service["tier"] in {"critical", "important"}:
        desired = int(candidate["params"].get("desired", service["capacity"]))
        if desired < service["capacity"] * (1 - policy.max_shrink):
            return vote(
                AgentName.SECURITY, candidate, Stance.REJECT, 0.9,
                f"blast radius: shrinks {service['name']} by more than half during an outage",
            )  # fmt: skip
    if candidate["risk"] == "high":
        return vote(AgentName.SECURITY, candidate, Stance.REJECT, 0.8, "high-risk change")
    if candidate["protected"] and candidate["destructive"]:
        return vote(
            AgentName.SECURITY, candidate, Stance.APPROVE, 0.5,
            f"{service['name']} is protected: a person must confirm",
        )  # fmt: skip
    confidence = 0.7 if candidate["risk"] == "low" else 0.5
    return vote(
        AgentName.SECURITY,
        candidate,
        Stance.APPROVE,
        confidence,
        f"{candidate['risk']}-risk change",
    )
