"""Random estates for generated scenarios: a front door, mid-tier services, data stores at the
leaves, on a dependency DAG, with baselines that fit each service kind. Pure and deterministic:
every draw comes from the ``random.Random`` the caller passes in."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

FRONT_NAMES = ("storefront", "web", "edge-api", "portal", "gateway", "mobile-api")
MID_NAMES = (
    "checkout", "catalog", "cart", "auth", "search", "orders", "payments", "inventory",
    "profile", "shipping", "pricing", "reviews", "recommendations", "notifications", "billing",
    "media", "reports", "loyalty", "coupons", "fulfilment",
)  # fmt: skip
DB_NAMES = (
    "orders-db", "users-db", "catalog-db", "payments-db", "sessions-db", "inventory-db",
    "analytics-db", "ledger-db",
)  # fmt: skip
TIERS = ("critical", "important", "supporting")
TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}


@dataclass(slots=True)
class Node:
    """One service of an estate while it is being drawn; ``document`` is its v1 mapping."""

    name: str
    kind: str
    role: str
    """front, mid or store."""
    depends_on: list[str] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Topology:
    """An estate: services in dependency order (callers before what they call)."""

    nodes: list[Node]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def of_kind(self, *kinds: str) -> list[Node]:
        return [n for n in self.nodes if n.kind in kinds]

    def below(self, name: str) -> set[str]:
        """Every service ``name`` depends on, directly or not."""
        seen: set[str] = set()
        todo = list(self.node(name).depends_on)
        while todo:
            here = todo.pop()
            if here not in seen:
                seen.add(here)
                todo.extend(self.node(here).depends_on)
        return seen

    def related(self, a: str, b: str) -> bool:
        """One depends on the other, or they share a dependency: not unrelated parts."""
        down_a, down_b = self.below(a) | {a}, self.below(b) | {b}
        return bool(down_a & down_b)

    def neighbours(self, name: str) -> list[str]:
        """Direct dependencies and direct callers of ``name``."""
        callers = [n.name for n in self.nodes if name in n.depends_on]
        return sorted(set(self.node(name).depends_on) | set(callers))

    def documents(self) -> list[dict[str, Any]]:
        """The services as v1 mappings, in the spec's key order."""
        out = []
        for node in self.nodes:
            doc: dict[str, Any] = {"name": node.name, "kind": node.kind}
            doc["tier"] = node.document["tier"]
            if node.depends_on:
                doc["depends_on"] = list(node.depends_on)
            doc |= {k: v for k, v in node.document.items() if k != "tier"}
            out.append(doc)
        return out


def draw_topology(rng: random.Random, size: int | None = None) -> Topology:
    """An estate of 4 to 15 services (``size`` when given)."""
    total = size if size is not None else rng.randint(4, 15)
    stores = max(1, min(3, total // 4 + rng.randint(0, 1)))
    mids = total - 1 - stores
    front = Node(
        rng.choice(FRONT_NAMES), rng.choice(("ecs-service", "ecs-service", "asg")), "front"
    )
    mid_nodes = [
        Node(name, "ecs-service" if i == 0 else _mid_kind(rng), "mid")
        for i, name in enumerate(rng.sample(MID_NAMES, mids))
    ]
    store_nodes = [Node(name, "rds", "store") for name in rng.sample(DB_NAMES, stores)]
    _wire(rng, front, mid_nodes, store_nodes)
    nodes = [front, *mid_nodes, *store_nodes]
    _tiers(rng, nodes)
    _baselines(rng, nodes)
    return Topology(nodes)


def _mid_kind(rng: random.Random) -> str:
    return rng.choices(("ecs-service", "asg", "lambda"), weights=(6, 2, 2))[0]


def _wire(rng: random.Random, front: Node, mids: list[Node], stores: list[Node]) -> None:
    """Edges only point down the list (front, mids, stores): always a DAG. Every service is
    reached from the front door and every store has a caller."""
    top = mids[: max(1, len(mids) // 2)]
    front.depends_on = sorted(n.name for n in rng.sample(top, rng.randint(1, min(3, len(top)))))
    for index, mid in enumerate(mids):
        lower = mids[index + 1 :] + stores
        if mid.kind == "lambda":
            lower = stores or lower
        count = rng.choice((0, 1, 1, 2)) if lower else 0
        mid.depends_on = sorted(n.name for n in rng.sample(lower, min(count, len(lower))))
    callers = [front, *mids]
    for index, mid in enumerate(mids):
        if not any(mid.name in c.depends_on for c in callers):
            caller = rng.choice(callers[: index + 1])
            caller.depends_on = sorted({*caller.depends_on, mid.name})
    for store in stores:
        if not any(store.name in c.depends_on for c in mids):
            caller = rng.choice(mids) if mids else front
            caller.depends_on = sorted({*caller.depends_on, store.name})


def _tiers(rng: random.Random, nodes: list[Node]) -> None:
    """The front door is critical; a store is as critical as its most critical caller and
    holds data, so it is usually ``protected``."""
    tier: dict[str, str] = {}
    for node in nodes:
        if node.role == "front":
            tier[node.name] = "critical"
        elif node.role == "mid":
            tier[node.name] = rng.choices(TIERS, weights=(3, 4, 2))[0]
        else:
            callers = [tier[n.name] for n in nodes if node.name in n.depends_on and n.name in tier]
            tier[node.name] = min(callers or ["important"], key=TIER_RANK.__getitem__)
        node.document["tier"] = tier[node.name]
        if node.role == "store" and rng.random() < 0.6:
            node.document["protected"] = True


def _baselines(rng: random.Random, nodes: list[Node]) -> None:
    """Healthy values per kind; a callee serves a share of its callers' requests and a
    caller's latency includes part of its dependencies'."""
    rps: dict[str, float] = {}
    for node in nodes:
        callers = [rps[n.name] for n in nodes if node.name in n.depends_on and n.name in rps]
        if node.role == "front":
            rps[node.name] = float(rng.randrange(200, 1600, 50))
        else:
            rps[node.name] = round(max(callers or [100.0]) * rng.uniform(0.2, 0.7))
    latency: dict[str, float] = {}
    for node in reversed(nodes):
        below = sum(latency[d] for d in node.depends_on)
        doc = node.document
        if node.kind == "rds":
            most = rng.choice((200, 400, 500, 1000))
            doc["baseline"] = {
                "cpu": rng.randint(15, 40),
                "connections": int(most * rng.uniform(0.1, 0.3)),
                "max_connections": most,
                "latency_ms": rng.randint(2, 8),
                "free_storage_gib": rng.randrange(50, 500, 10),
            }
            latency[node.name] = doc["baseline"]["latency_ms"]
            continue
        own = rng.randint(15, 80) + round(0.6 * below)
        latency[node.name] = own
        base: dict[str, float] = {"rps": rps[node.name]}
        if node.kind == "lambda":
            base["rps"] = float(max(5, round(rps[node.name] / 10)))
            doc["capacity"] = rng.choice((20, 50, 100))
            doc["max_capacity"] = doc["capacity"] * rng.randint(4, 8)
        else:
            base |= {"cpu": rng.randint(20, 45), "memory": rng.randint(30, 55)}
            doc["capacity"] = rng.randint(2, 6)
            doc["max_capacity"] = doc["capacity"] * rng.randint(5, 10)
            doc["unit_cost_per_hour"] = (
                round(rng.uniform(0.04, 0.1), 3)
                if node.kind == "ecs-service"
                else round(rng.uniform(0.1, 1.6), 2)
            )
        base |= {"latency_ms": own, "error_rate": round(rng.uniform(0.05, 0.3), 2)}
        doc["baseline"] = base
    for node in nodes:
        node.document["noise"] = round(rng.uniform(0.02, 0.08), 2)
        node.document["seasonality"] = "daily" if rng.random() < 0.3 else "none"
