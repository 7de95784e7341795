"""Generated scenario files: random estates and timelines the commander was never tuned on.

Scenario ``seed`` is drawn from ``random.Random(seed)`` alone, so a seed names one file for
ever. Its class is ``CLASSES[seed % len(CLASSES)]``: any run of ``len(CLASSES)`` consecutive
seeds holds every class once (each fault kind alone, then the combinations). Its ``expect``
block comes from the oracle (``services.scenario.oracle``), which reads only the spec's tables.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from services.scenario.model import FLAPPABLE, FaultKind, Scenario, ServiceKind
from services.scenario.oracle import Verdict, judge
from services.scenario.topology import Node, Topology, draw_topology

MINUTE = 60
FIRST_FAULT_MIN = (10, 14)
"""The detector needs ten healthy minutes before the first fault."""

COMBINATIONS = (
    "concurrent-unrelated",
    "deploy-then-fault",
    "two-causes-in-sequence",
    "attack-traffic",
    "recurring",
    "security-on-protected",
    "no-remedy",
    "fault-among-noise",
    "noise-only",
)
CLASSES: tuple[str, ...] = tuple(k.value for k in FaultKind) + COMBINATIONS
"""Every fault kind alone, then each combination; a seed's class is ``seed % len(CLASSES)``."""

TARGET_KINDS: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.CPU_SATURATION: ("ecs-service", "asg"),
    FaultKind.TRAFFIC_SPIKE: ("ecs-service", "asg", "lambda"),
    FaultKind.MEMORY_LEAK: ("ecs-service", "asg"),
    FaultKind.BAD_DEPLOY: ("ecs-service", "asg", "lambda"),
    FaultKind.DEPENDENCY_LATENCY: ("rds",),
    FaultKind.CONNECTION_EXHAUSTION: ("rds",),
    FaultKind.DISK_FULL: ("rds",),
    FaultKind.CREDENTIAL_COMPROMISE: ("ecs-service", "asg", "lambda", "rds"),
    FaultKind.INSTANCE_COMPROMISE: ("asg", "ecs-service"),
    FaultKind.SECURITY_GROUP_EXPOSURE: ("ecs-service", "asg", "lambda", "rds"),
    FaultKind.COST_RUNAWAY: ("ecs-service", "asg", "lambda"),
}
"""Where each fault is drawn: kinds the format allows and the vocabulary has a remedy for
(``no-remedy`` is the one class that draws a fault outside this table on purpose)."""

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated scenario: its file as a mapping, the validated model and the verdict."""

    seed: int
    klass: str
    document: dict[str, Any]
    scenario: Scenario
    verdict: Verdict

    @property
    def name(self) -> str:
        return self.scenario.name

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.document, sort_keys=False, width=100)


def generate(seed: int) -> Generated:
    """The scenario of ``seed``: deterministic, valid format v1, ``expect`` from the oracle."""
    rng = random.Random(seed)
    klass = CLASSES[seed % len(CLASSES)]
    topology = draw_topology(rng)
    events, description = _TIMELINES[klass](rng, topology, klass)
    events.sort(key=lambda e: e["at"])
    document: dict[str, Any] = {
        "version": 1,
        "name": f"gen-{seed}-{klass}",
        "description": description,
        "seed": seed,
        "duration": "3h",  # a draft's; the oracle's timings set the real one below
        "step": "60s",
        "services": topology.documents(),
        "events": [{**e, "at": f"{e['at'] // MINUTE}m"} for e in events],
    }
    draft = Scenario.model_validate(document)
    verdict = judge(draft)
    document["duration"] = f"{_duration_s(events, verdict) // MINUTE}m"
    document["expect"] = verdict.expect()
    return Generated(seed, klass, document, Scenario.model_validate(document), verdict)


def generate_range(first: int, count: int) -> list[Generated]:
    """Scenarios of seeds ``first`` .. ``first + count - 1``."""
    return [generate(seed) for seed in range(first, first + count)]


def _duration_s(events: list[Event], verdict: Verdict) -> int:
    """Long enough to detect, act and settle after the last event, in whole minutes."""
    last = max((e["at"] for e in events), default=0)
    end = max(30 * MINUTE, last + 12 * MINUTE)
    if verdict.causes:
        first = verdict.causes[0].at_s
        end = max(end, first + (verdict.recovered_within_s or 20 * MINUTE) + 5 * MINUTE)
    return end


# --- faults -----------------------------------------------------------------------------------


def _fault(rng: random.Random, kind: FaultKind, node: Node, at: int) -> Event:
    """A fault event on ``node`` with parameters drawn around the spec's defaults."""
    params: dict[str, Any] = {}
    if kind is FaultKind.CPU_SATURATION:
        params = {"factor": rng.choice((2.5, 3, 4))}
    elif kind is FaultKind.TRAFFIC_SPIKE:
        params = {"factor": rng.choice((3, 4, 5, 6))}
    elif kind is FaultKind.MEMORY_LEAK:
        params = {"rate": rng.choice((3, 4, 5, 6))}
    elif kind is FaultKind.BAD_DEPLOY:
        params = (
            {"error_rate": rng.choice((10, 20, 30, 40))}
            if rng.random() < 0.7
            else {"latency_factor": rng.choice((3, 4, 5))}
        )
    elif kind is FaultKind.DEPENDENCY_LATENCY:
        params = {"factor": rng.choice((4, 6, 8, 10))}
    elif kind is FaultKind.CONNECTION_EXHAUSTION:
        params = {"over": f"{rng.randint(3, 6)}m"}
    elif kind is FaultKind.DISK_FULL:
        params = {"over": f"{rng.randint(5, 10)}m"}
    elif kind is FaultKind.CREDENTIAL_COMPROMISE:
        params = {"source_ip": f"203.0.113.{rng.randint(2, 254)}"}
    elif kind is FaultKind.SECURITY_GROUP_EXPOSURE:
        port = 5432 if node.kind == "rds" else rng.choice((22, 3389, 6379, 9200))
        params = {"port": port, "protocol": "tcp", "cidr": "0.0.0.0/0"}
    elif kind is FaultKind.COST_RUNAWAY:
        params = {"over": f"{rng.randint(5, 10)}m"}
    event: Event = {"at": at, "kind": kind.value, "target": node.name}
    if params:
        event["params"] = params
    return event


def _target(rng: random.Random, topology: Topology, kind: FaultKind) -> Node:
    candidates = topology.of_kind(*TARGET_KINDS[kind])
    if kind is FaultKind.TRAFFIC_SPIKE and rng.random() < 0.6:
        return topology.nodes[0]  # load usually arrives at the front door
    return rng.choice(candidates)


def _onset(rng: random.Random) -> int:
    return rng.randint(*FIRST_FAULT_MIN) * MINUTE


# --- noise ------------------------------------------------------------------------------------


def _deploy(node: Node, at: int) -> Event:
    return {"at": at, "kind": "deploy", "target": node.name}


def _transient(rng: random.Random, node: Node, at: int) -> Event:
    metric = "latency" if node.kind in ("rds", "lambda") else rng.choice(("latency", "cpu"))
    params = {"metric": metric, "factor": rng.choice((2, 3)), "duration": "2m"}
    return {"at": at, "kind": "transient-spike", "target": node.name, "params": params}


def _flapping(rng: random.Random, node: Node, at: int) -> Event:
    metric = rng.choice(sorted(FLAPPABLE[ServiceKind(node.kind)]))
    params = {"metric": metric, "period": "2m", "duration": f"{rng.randint(8, 16)}m"}
    return {"at": at, "kind": "flapping-alert", "target": node.name, "params": params}


def _deployable(topology: Topology) -> list[Node]:
    return topology.of_kind("ecs-service", "asg", "lambda")


# --- timelines by class -----------------------------------------------------------------------

Timeline = Callable[[random.Random, Topology, str], tuple[list[Event], str]]


def _single(rng: random.Random, topology: Topology, klass: str) -> tuple[list[Event], str]:
    kind = FaultKind(klass)
    node = _target(rng, topology, kind)
    events = [_fault(rng, kind, node, _onset(rng))]
    return events, f"{kind.value} on {node.name} ({node.kind}), alone."


def _concurrent(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    drawable = [k for k in FaultKind if k is not FaultKind.COST_RUNAWAY]
    kinds = rng.sample(drawable, 2)
    first = _target(rng, topology, kinds[0])

    def elsewhere(kind: FaultKind) -> list[Node]:
        return [n for n in topology.of_kind(*TARGET_KINDS[kind]) if n.name != first.name]

    if not elsewhere(kinds[1]):
        # The estate's only node of that kind has the first fault (its one database, say): two
        # faults on one service at once are one service's trouble, not two concurrent faults.
        kinds[1] = rng.choice([k for k in drawable if k is not kinds[0] and elsewhere(k)])
    pool = [n for n in elsewhere(kinds[1]) if not topology.related(n.name, first.name)]
    second = rng.choice(pool or elsewhere(kinds[1]))
    at = _onset(rng)
    events = [
        _fault(rng, kinds[0], first, at),
        _fault(rng, kinds[1], second, at + rng.randint(1, 4) * MINUTE),
    ]
    unrelated = not topology.related(first.name, second.name)
    where = "unrelated parts of the estate" if unrelated else "overlapping parts (small estate)"
    return events, (
        f"Two concurrent faults in {where}: {kinds[0].value} on {first.name}, "
        f"then {kinds[1].value} on {second.name}."
    )


def _deploy_then_fault(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    kind = rng.choice([k for k in FaultKind if k is not FaultKind.BAD_DEPLOY])
    node = _target(rng, topology, kind)
    near = [n for n in topology.neighbours(node.name) if topology.node(n).kind != "rds"]
    herring = topology.node(rng.choice(near)) if near else rng.choice(_deployable(topology))
    at = _onset(rng)
    events = [_deploy(herring, at - rng.randint(2, 5) * MINUTE), _fault(rng, kind, node, at)]
    return events, (
        f"A harmless deploy of {herring.name}, then minutes later {kind.value} on its "
        f"neighbour {node.name}: the deploy is a red herring."
    )


def _two_causes(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    node = rng.choice(topology.of_kind("ecs-service", "asg"))
    kinds = rng.choice(
        (
            (FaultKind.BAD_DEPLOY, FaultKind.MEMORY_LEAK),
            (FaultKind.MEMORY_LEAK, FaultKind.BAD_DEPLOY),
            (FaultKind.CPU_SATURATION, FaultKind.BAD_DEPLOY),
            (FaultKind.BAD_DEPLOY, FaultKind.INSTANCE_COMPROMISE),
        )
    )
    at = _onset(rng)
    events = [
        _fault(rng, kinds[0], node, at),
        _fault(rng, kinds[1], node, at + rng.randint(14, 18) * MINUTE),
    ]
    return events, (
        f"Two causes on {node.name} in sequence: {kinds[0].value}, then {kinds[1].value}."
    )


def _attack(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    node = topology.nodes[0]
    event = _fault(rng, FaultKind.TRAFFIC_SPIKE, node, _onset(rng))
    event["params"] |= {"malicious": True, "sources": rng.randint(2, 6)}
    return [event], f"Attack traffic on the front door {node.name} from few sources."


def _recurring(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    kind = rng.choice((FaultKind.TRAFFIC_SPIKE, FaultKind.CPU_SATURATION))
    node = _target(rng, topology, kind)
    at, span, gap = _onset(rng), rng.randint(4, 6), rng.randint(8, 10)
    events = []
    for index in range(3):
        event = _fault(rng, kind, node, at + index * gap * MINUTE)
        event.setdefault("params", {})["duration"] = f"{span}m"
        events.append(event)
    return events, f"{kind.value} on {node.name} for {span} minutes, three times, {gap}m apart."


def _security_protected(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    stores = topology.of_kind("rds")
    store = next((n for n in stores if n.document.get("protected")), stores[0])
    store.document["protected"] = True
    kind = rng.choice(
        (
            FaultKind.SECURITY_GROUP_EXPOSURE,
            FaultKind.CREDENTIAL_COMPROMISE,
            FaultKind.INSTANCE_COMPROMISE,
        )
    )
    events = [_fault(rng, kind, store, _onset(rng))]
    return events, f"A security finding on the protected data store {store.name}: {kind.value}."


def _no_remedy(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    store = rng.choice(topology.of_kind("rds"))
    events = [_fault(rng, FaultKind.CPU_SATURATION, store, _onset(rng))]
    return events, (
        f"cpu-saturation on the database {store.name}: no action of the vocabulary addresses "
        "it (no RDS instance class change); the right decision is a person."
    )


def _among_noise(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    kind = rng.choice(list(FaultKind))
    node = _target(rng, topology, kind)
    at = _onset(rng)
    others = [n for n in topology.nodes if n.name != node.name] or [node]
    events = [
        _transient(rng, rng.choice(others), at - 4 * MINUTE),
        _flapping(rng, rng.choice(others), at - 6 * MINUTE),
        _fault(rng, kind, node, at),
    ]
    return events, f"{kind.value} on {node.name} among a transient spike and a flapping alarm."


def _noise_only(rng: random.Random, topology: Topology, _: str) -> tuple[list[Event], str]:
    nodes = topology.nodes
    at = _onset(rng)
    events = [
        _deploy(rng.choice(_deployable(topology)), at),
        _transient(rng, rng.choice(nodes), at + 5 * MINUTE),
        _flapping(rng, rng.choice(nodes), at + 8 * MINUTE),
    ]
    return events, "Noise only: a harmless deploy, a transient spike and a flapping alarm."


_TIMELINES: dict[str, Timeline] = {
    **{k.value: _single for k in FaultKind},
    "concurrent-unrelated": _concurrent,
    "deploy-then-fault": _deploy_then_fault,
    "two-causes-in-sequence": _two_causes,
    "attack-traffic": _attack,
    "recurring": _recurring,
    "security-on-protected": _security_protected,
    "no-remedy": _no_remedy,
    "fault-among-noise": _among_noise,
    "noise-only": _noise_only,
}
