"""Security: policy checks on every action, with a veto; containment for security incidents.

It proposes containment for security incidents (``propose_containment``) and votes on
every candidate. Policy:
- never widen exposure (veto);
- during a change freeze, only containment runs (veto the rest);
- no shrinking a critical or important service by more than half during an SLO incident;
- destructive actions on protected resources are approved only for a person to confirm
  (consensus never lets a protected target run unattended).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.model import (
    AgentName,
    Candidate,
    Hypothesis,
    ServiceFacts,
    Stance,
    Vote,
    make_candidate,
    vote,
)

CONTAINMENT = frozenset({"deactivate-access-key", "isolate-instance", "revoke-ingress-rule"})
OUT_OF_SERVICE = frozenset({"isolate-instance"})
"""Containment that takes running capacity out of service (the instance stops serving): a
destructive action, which on a protected resource waits for a person (the spec's
``protected``). Disabling a stolen key or closing an open port cuts only the attacker's path."""
SECURITY_FAULTS = frozenset(
    {"credential-compromise", "instance-compromise", "security-group-exposure"}
)


_CONTAINMENT: dict[str, tuple[str, str, str | None]] = {
    "credential-compromise": (
        "deactivate-access-key",
        "stolen key can no longer sign calls",
        "deactivate-access-key",
    ),
    "instance-compromise": ("isolate-instance", "instance cut off, evidence kept", None),
    "security-group-exposure": ("revoke-ingress-rule", "port closed to the internet", None),
}
"""Security fault -> (action, expected effect, the action that undoes it)."""


def propose_containment(
    hypotheses: Sequence[Hypothesis],
    facts: Mapping[str, ServiceFacts],
    *,
    exclude: Sequence[str] = (),
    first_rank: int = 0,
) -> list[Candidate]:
    """Containment for each security hypothesis whose target is known (the key, the
    instance, the open port); ``exclude`` holds ids already tried."""
    out: list[Candidate] = []
    for hyp in hypotheses:
        play = _CONTAINMENT.get(hyp["fault"])
        service = facts.get(hyp["service"])
        if play is None or service is None:
            continue
        action, effect, rollback = play
        params = _target(action, service)
        if params is None:
            continue
        candidate = make_candidate(
            action, service, params, addresses=hyp["fault"], risk="low",
            reversible=rollback is not None, destructive=action in OUT_OF_SERVICE, effect=effect,
            rollback=rollback, rank=first_rank + len(out),
        )  # fmt: skip
        if candidate["id"] not in exclude and candidate not in out:
            out.append(candidate)
    return out


def _target(action: str, service: ServiceFacts) -> dict[str, Any] | None:
    if action == "deactivate-access-key":
        return {"access_key_id": service["access_key_id"]} if service["access_key_id"] else None
    if action == "isolate-instance":
        instances = service["compromised_instances"]
        return {"instance_id": instances[0]} if instances else None
    ports = service["exposed_ports"]
    return {"port": ports[0]} if ports else None


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
