"""Which service an alert is about: the estate's routes (an estate file's matchers), then the
names the estate knows. Pure functions of the estate and what the alert carries.

Order, first answer wins:

1. the routes: every route whose conditions all match. One service matched: that one. Several:
   the service of the most specific route (most conditions); a tie between services is
   ambiguous, and the alert is not routed (a person sorts it out from the triage incident,
   which says which services matched);
2. the service the alert names (a ``service`` label, a dimension such as ``ServiceName``), when
   the estate has a service of that name;
3. the owner of the resource the alert names: an alarm, an id or name of one of a service's
   resources, or an ARN ending in one of those.

``overlapping`` finds pairs of routes of different services that test the same fields with
patterns that can match the same value: the loader refuses them, since an alert matching both
would be ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from services.aws.resources import Estate, Route

_WILD = re.compile(r"[*?\[]")
_WILDCARD = re.compile(r"\*|\?|\[!?\]?[^\]]*\]")
"""One wildcard of a pattern: ``*``, ``?`` or a whole character class (``[ab]``, ``[!]x]``)."""


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What an alert carries that routes can test."""

    service: str | None = None
    resource: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Routed:
    """Where an alert goes: ``service``, or None with ``reason`` saying why not."""

    service: str | None
    reason: str
    candidates: tuple[str, ...] = ()
    """Services whose routes matched equally well (an ambiguous alert)."""


def route(estate: Estate, facts: AlertFacts) -> Routed:
    matched = [r for r in estate.routes if matches(r, facts)]
    if matched:
        best = max(r.conditions for r in matched)
        services = sorted({r.service for r in matched if r.conditions == best})
        if len(services) == 1:
            where = next(r.where for r in matched if r.service == services[0])
            return Routed(services[0], f"route {where}" if where else "route")
        return Routed(
            None,
            "matches routes of " + " and ".join(services) + " equally well",
            tuple(services),
        )
    if facts.service and facts.service in estate.services:
        return Routed(facts.service, "named service")
    if facts.resource and (owner := owner_of(estate, facts.resource)) is not None:
        return Routed(owner, f"owns {facts.resource}")
    return Routed(None, "no route matches and no service of the estate is named")


def matches(r: Route, facts: AlertFacts) -> bool:
    return (
        _all(r.labels, facts.labels)
        and _all(r.annotations, facts.annotations)
        and _all(r.dimensions, facts.dimensions)
        and (
            r.resource is None or (facts.resource is not None and _glob(facts.resource, r.resource))
        )
    )


def _all(wanted: Iterable[tuple[str, str]], have: Mapping[str, str]) -> bool:
    return all(key in have and _glob(have[key], pattern) for key, pattern in wanted)


def _glob(value: str, pattern: str) -> bool:
    return fnmatchcase(value, pattern)


def owner_of(estate: Estate, resource: str) -> str | None:
    """The service owning ``resource``: an alarm name, an id or name of one of its resources
    (a DB instance, a function, an ASG, an ECS service, a security group, an IAM user, a
    host), or an ARN ending in one of those."""
    tail = resource.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    for name, res in estate.services.items():
        names = {
            *res.alarms.values(), res.db_instance_id, res.function_name, res.asg_name,
            res.ecs_service, res.security_group_id, res.iam_user, res.host_instance_id,
            res.access_key_id,
        }  # fmt: skip
        names.discard(None)
        if resource in names or tail in names:
            return name
    return None


def overlapping(routes: Iterable[Route]) -> list[tuple[Route, Route, str]]:
    """Pairs of routes of different services that one alert could match equally: the same
    fields tested, each pair of patterns able to match one value. Returns each pair with the
    field that shows it (``labels.service=checkout``)."""
    found: list[tuple[Route, Route, str]] = []
    listed = list(routes)
    for i, a in enumerate(listed):
        for b in listed[i + 1 :]:
            if a.service == b.service or _fields(a) != _fields(b):
                continue
            pairs = _conditions(a), _conditions(b)
            if all(_may_meet(pairs[0][key], pairs[1][key]) for key in pairs[0]):
                key = sorted(pairs[0])[0]
                found.append((a, b, f"{key}={pairs[0][key]} / {pairs[1][key]}"))
    return found


def _conditions(r: Route) -> dict[str, str]:
    out = {f"labels.{k}": v for k, v in r.labels}
    out |= {f"annotations.{k}": v for k, v in r.annotations}
    out |= {f"dimensions.{k}": v for k, v in r.dimensions}
    if r.resource is not None:
        out["resource"] = r.resource
    return out


def _fields(r: Route) -> frozenset[str]:
    return frozenset(_conditions(r))


def _may_meet(a: str, b: str) -> bool:
    """Whether some value can match both patterns. Exact for a literal against anything; for
    two patterns it compares what they fix before and after their first and last wildcard
    (a sound over-approximation: it may call two patterns overlapping that are not)."""
    a_wild, b_wild = bool(_WILD.search(a)), bool(_WILD.search(b))
    if not a_wild:
        return fnmatchcase(a, b)
    if not b_wild:
        return fnmatchcase(b, a)
    a_head, a_tail = _WILDCARD.split(a)[0], _WILDCARD.split(a)[-1]
    b_head, b_tail = _WILDCARD.split(b)[0], _WILDCARD.split(b)[-1]
    heads = a_head.startswith(b_head) or b_head.startswith(a_head)
    tails = a_tail.endswith(b_tail) or b_tail.endswith(a_tail)
    return heads and tails
