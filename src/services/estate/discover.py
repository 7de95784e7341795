"""``estate discover``: draft an estate file from an account's tags, for a person to review.

A service is the value of the ``incident-commander:service`` tag. Its kind is the type of its
main resource (an ECS service, an Auto Scaling group, an RDS instance, a Lambda function); the
other tags of the convention (``tier``, ``depends-on``, ``protected``, ``owner``,
``escalation``) are read from its resources, the main one first. What can be read from the
resources is inferred when it is unambiguous:

- an ECS service's or an Auto Scaling group's target group: the one it sends traffic to, if
  that group is attached to a load balancer (else the service has no request metrics);
- a Lambda function's alias: its only alias, or the one named ``live`` or ``prod``;
- a security group, a log group, an IAM user (and its only active key), a standalone EC2
  instance: when exactly one of each is tagged with the service;
- the quarantine security group: the one tagged ``incident-commander:quarantine=true``.

Anything it cannot decide is left out with a ``REVIEW`` comment saying what and why. The draft
is run through ``parse_estate`` before it is returned, so what is written is a valid file.
``infer`` and ``render`` are pure; ``discover`` reads the account through the AWS port only,
so it works the same on the embedded emulator, LocalStack and an account.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from services.aws.port import AwsPort
from services.errors import DiscoveryError
from services.estate.inventory import PREFIX, Inventory, Kind, Tagged, read_inventory
from services.estate.load import parse_estate
from services.estate.model import NAME, EstateFile
from services.scenario.model import ServiceKind, Tier

MAIN: dict[Kind, ServiceKind] = {
    Kind.ECS_SERVICE: ServiceKind.ECS_SERVICE,
    Kind.ASG: ServiceKind.ASG,
    Kind.DB_INSTANCE: ServiceKind.RDS,
    Kind.FUNCTION: ServiceKind.LAMBDA,
}
"""The resource that makes a service, and the kind it gives it (first listed wins a tie)."""
LIVE_ALIASES = ("live", "prod")

HEADER = """\
# Estate file (format 1) drafted by `incident-commander estate discover` from the resources
# tagged incident-commander:service in {region}.
#
# REVIEW IT before the commander uses it: it decides what the commander may act on.
# - Check each service's kind, resources, tier, protection, dependencies and owners.
# - Not read from tags: capacity, slo, downtime_cost_per_min (defaults by tier and kind apply).
# - Comments marked REVIEW are what discovery could not decide.
# Check it with `incident-commander estate validate FILE --check-aws`; docs/estate.md has the
# format.
"""


@dataclass(slots=True)
class Draft:
    """An estate file as data, with the notes for its reviewer (by service; "" for the file)."""

    document: dict[str, Any]
    notes: dict[str, list[str]] = field(default_factory=dict)

    def note(self, service: str, text: str) -> None:
        self.notes.setdefault(service, []).append(text)


@dataclass(frozen=True, slots=True)
class Discovered:
    text: str
    """The file, comments and all."""
    estate: EstateFile
    notes: int
    """How many REVIEW comments it carries."""


def discover(port: AwsPort, *, name: str, period_s: int = 60) -> Discovered:
    """Draft the estate file of the account behind ``port``."""
    inventory = read_inventory(port)
    draft = infer(inventory, name=name, period_s=period_s)
    if not draft.document["services"]:
        found = "".join(f"\n  {n}" for n in draft.notes.get("", []))
        raise DiscoveryError(
            f"no service found in {inventory.region}: tag each service's ECS service, Auto "
            f"Scaling group, RDS instance or Lambda function with {PREFIX}service=<name> "
            f"(docs/estate.md){found}"
        )
    text = render(draft, region=inventory.region)
    # A dependency cycle in the tags is refused here, naming the service whose tag closes it.
    estate = parse_estate(text, f"estate discovered in {inventory.region} (its {PREFIX}* tags)")
    return Discovered(text, estate, sum(len(n) for n in draft.notes.values()))


def infer(inventory: Inventory, *, name: str, period_s: int) -> Draft:
    """The estate file ``inventory`` supports, and what a person must decide."""
    draft = Draft({"version": 1, "name": name, "region": inventory.region})
    draft.document["period"] = f"{period_s}s"
    _quarantine(inventory, draft)
    by_service: dict[str, list[Tagged]] = {}
    for tagged in inventory.tagged:
        if tagged.kind is Kind.INSTANCE and tagged.in_asg:
            continue  # an Auto Scaling group's instance carries the group's tags
        by_service.setdefault(tagged.service, []).append(tagged)
    mains: dict[str, Tagged] = {}
    for service, items in sorted(by_service.items()):
        if not re.fullmatch(NAME, service):
            draft.note(
                "",
                f"{PREFIX}service={service!r} on {_listed(t.arn for t in items)}: not a "
                "service name (lower-case letters, digits and dashes); left out",
            )
            continue
        candidates = [t for kind in MAIN for t in items if t.kind is kind]
        if not candidates and all(t.kind is Kind.IAM_USER for t in items):
            continue  # IAM is global: the user of a service in another region
        if not candidates:
            draft.note(
                "",
                f"{service}: tagged on {_listed(t.arn for t in items)} but on no ECS service, "
                "Auto Scaling group, RDS instance or Lambda function; left out",
            )
            continue
        mains[service] = candidates[0]
        if len(candidates) > 1:
            draft.note(
                service,
                f"also tagged {service}: {_listed(t.arn for t in candidates[1:])}; a service "
                f"has one main resource, so this is the {MAIN[candidates[0].kind].value} "
                f"{candidates[0].ident}; give the others services of their own",
            )
    draft.document["services"] = {
        service: _service(service, main, by_service[service], set(mains), inventory, draft)
        for service, main in mains.items()
    }
    return draft


def _quarantine(inventory: Inventory, draft: Draft) -> None:
    groups = inventory.quarantine_groups
    if len(groups) == 1:
        draft.document["quarantine_security_group"] = groups[0]
    elif groups:
        draft.note(
            "",
            f"several security groups are tagged {PREFIX}quarantine=true ({_listed(groups)}): "
            "set quarantine_security_group to the one with no rules",
        )
    else:
        draft.note(
            "",
            f"no security group is tagged {PREFIX}quarantine=true: isolate-instance is not "
            "applicable until quarantine_security_group names one with no rules",
        )


def _service(
    name: str,
    main: Tagged,
    items: list[Tagged],
    services: set[str],
    inventory: Inventory,
    draft: Draft,
) -> dict[str, Any]:
    kind = MAIN[main.kind]
    spec: dict[str, Any] = {"kind": kind.value}
    tier = _attribute(name, main, items, "tier", draft)
    if tier is not None:
        if tier in {t.value for t in Tier}:
            spec["tier"] = tier
        else:
            draft.note(name, f"{PREFIX}tier={tier!r} is none of {_listed(t.value for t in Tier)}")
    protected = _attribute(name, main, items, "protected", draft)
    if protected is not None:
        if protected.lower() in {"true", "false"}:
            if protected.lower() == "true":
                spec["protected"] = True
        else:
            draft.note(name, f"{PREFIX}protected={protected!r}: neither true nor false")
    depends = _attribute(name, main, items, "depends-on", draft)
    if depends is not None:
        wanted = [d.strip() for d in depends.split(",") if d.strip()]
        unknown = [d for d in wanted if d not in services or d == name]
        if unknown:
            draft.note(
                name,
                f"{PREFIX}depends-on names {_listed(unknown)}: no other service of the "
                "estate has that name; left out",
            )
        if known := [d for d in dict.fromkeys(wanted) if d not in unknown]:
            spec["depends_on"] = _Flow(known)
    owner = _attribute(name, main, items, "owner", draft)
    if owner is not None and (owners := [o.strip() for o in owner.split(",") if o.strip()]):
        spec["owners"] = _Flow(owners)
    escalation = _attribute(name, main, items, "escalation", draft)
    if escalation:
        spec["escalation"] = escalation
    spec["resources"] = _resources(name, kind, main, items, inventory, draft)
    spec["routes"] = [{"labels": _FlowMap(service=name)}]
    return spec


def _attribute(name: str, main: Tagged, items: list[Tagged], key: str, draft: Draft) -> str | None:
    """The value of tag ``incident-commander:<key>`` for the service: its main resource's, else
    the one its other resources agree on."""
    tag = f"{PREFIX}{key}"
    values = sorted({t.tags[tag] for t in items if tag in t.tags})
    if not values:
        return None
    chosen = main.tags.get(tag, values[0])
    if len(values) > 1:
        draft.note(
            name,
            f"its resources disagree on {tag} ({_listed(values)}): took {chosen!r}"
            + (f" from {main.ident}" if tag in main.tags else ""),
        )
    return chosen


def _resources(
    name: str, kind: ServiceKind, main: Tagged, items: list[Tagged], inv: Inventory, draft: Draft
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind is ServiceKind.ECS_SERVICE:
        out |= {"ecs_cluster": main.cluster, "ecs_service": main.ident}
    elif kind is ServiceKind.ASG:
        out["asg"] = main.ident
        if main.launch_template is None:
            draft.note(
                name,
                f"Auto Scaling group {main.ident} uses a launch configuration: the commander "
                "deploys and rolls back through launch templates",
            )
    elif kind is ServiceKind.RDS:
        out["db_instance"] = main.ident
    else:
        out["function"] = main.ident
        alias = _alias(name, main, draft)
        if alias is not None:
            out["alias"] = alias
    if kind in (ServiceKind.ECS_SERVICE, ServiceKind.ASG):
        group = _target_group(name, main, items, inv, draft)
        if group is not None:
            out["target_group"] = group
    for key, resource_kind, what in (
        ("security_group", Kind.SECURITY_GROUP, "security group"),
        ("log_group", Kind.LOG_GROUP, "log group"),
        ("iam_user", Kind.IAM_USER, "IAM user"),
        ("instance", Kind.INSTANCE, "EC2 instance"),
    ):
        if key == "instance" and kind is ServiceKind.ASG:
            continue
        found = [t for t in items if t.kind is resource_kind]
        if len(found) == 1:
            out[key] = found[0].ident
        elif found:
            draft.note(
                name,
                f"several {what}s are tagged {name} ({_listed(t.ident for t in found)}): "
                f"set resources.{key} to the service's own",
            )
    users = [t for t in items if t.kind is Kind.IAM_USER]
    if len(users) == 1 and users[0].access_keys:
        keys = users[0].access_keys
        if len(keys) == 1:
            out["access_key_id"] = keys[0]
        else:
            draft.note(
                name,
                f"IAM user {users[0].ident} has {len(keys)} active keys ({_listed(keys)}): set "
                "resources.access_key_id to the one the service uses",
            )
    return out


def _alias(name: str, main: Tagged, draft: Draft) -> str | None:
    aliases = main.aliases
    if len(aliases) == 1:
        return aliases[0]
    live = [a for a in LIVE_ALIASES if a in aliases]
    if len(live) == 1:
        return live[0]
    if not aliases:
        draft.note(
            name,
            f"function {main.ident} has no alias: rollbacks move an alias, so they are not "
            "applicable until resources.alias names one",
        )
    else:
        draft.note(
            name,
            f"function {main.ident} has aliases {_listed(aliases)}: set resources.alias to the "
            "one that takes traffic",
        )
    return None


def _target_group(
    name: str, main: Tagged, items: list[Tagged], inv: Inventory, draft: Draft
) -> str | None:
    """The target group whose metrics are the service's requests, latency and errors."""
    tagged = [t.arn for t in items if t.kind is Kind.TARGET_GROUP]
    candidates = list(main.target_groups) or tagged
    if not candidates:
        return None
    names = {
        arn: inv.target_groups[arn].name if arn in inv.target_groups else arn
        for arn in [*candidates, *tagged]
    }
    for arn in tagged:
        if main.target_groups and arn not in main.target_groups:
            draft.note(
                name,
                f"target group {names[arn]} is tagged {name} but {main.ident} does not send "
                "traffic to it",
            )
    balanced = [
        a for a in candidates if a in inv.target_groups and inv.target_groups[a].load_balancers
    ]
    if not balanced:
        draft.note(
            name,
            f"target group {_listed(names[a] for a in candidates)} is attached to no load "
            "balancer: the service has no request metrics until it is",
        )
        return None
    if len(candidates) > 1:
        draft.note(
            name,
            f"{main.ident} sends traffic to {_listed(names[a] for a in candidates)}: its "
            f"request metrics are read from {names[balanced[0]]}",
        )
    return names[balanced[0]]


def render(draft: Draft, *, region: str) -> str:
    """The draft as YAML: the header, then each part with its REVIEW comments above it."""
    doc = draft.document
    lines = [HEADER.format(region=region).rstrip("\n"), ""]
    lines += [_yaml({key: value}) for key, value in doc.items() if key != "services"]
    lines += [line for n in draft.notes.get("", []) for line in _comment(n, "")]
    lines.append("services:")
    for name, spec in doc["services"].items():
        lines.append("")
        lines += [line for n in draft.notes.get(name, []) for line in _comment(n, "  ")]
        lines += ["  " + line for line in _yaml({name: spec}).splitlines()]
    return "\n".join(lines) + "\n"


def _comment(note: str, indent: str) -> list[str]:
    return textwrap.wrap(
        note, 96, initial_indent=f"{indent}# REVIEW: ", subsequent_indent=f"{indent}#   ",
        break_long_words=False, break_on_hyphens=False,
    )  # fmt: skip


class _Flow(list[Any]):
    """A list written on one line (``depends_on: [a, b]``)."""


class _FlowMap(dict[str, Any]):
    """A mapping written on one line (``labels: {service: checkout}``)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)
_Dumper.add_representer(
    _FlowMap, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)


def _yaml(data: dict[str, Any]) -> str:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    return text.rstrip("\n")


def _listed(values: Iterable[str]) -> str:
    return ", ".join(str(v) for v in values)
