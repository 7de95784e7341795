"""Who may call what: the roles, the authenticated principal, and the route x role matrix.

Every gateway route has a name (``incidents.approve``) and exactly one entry in ``ROUTE_ROLES``.
``authorize`` looks the name up with ``[]``, so a route added without an entry fails loudly with
a ``KeyError`` on its first request (and in the route x role tests) instead of being open.

The matrix is written out row by row rather than derived from a role hierarchy, so reading one
line tells you who may call that route. The shape it follows:

- ``viewer`` reads incidents, events, metrics and the audit trail;
- ``responder`` does what a viewer does and acknowledges, resolves and annotates incidents;
- ``approver`` does what a responder does and approves or rejects pending actions;
- ``admin`` does everything, including managing API keys and verifying the audit chain;
- ``ingest`` (a machine role for alert sources) may only deliver alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from services.errors import ForbiddenError


class Role(StrEnum):
    """A role a principal can hold; API keys and JWTs carry a set of these."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    APPROVER = "approver"
    ADMIN = "admin"
    INGEST = "ingest"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as proven by a credential.

    ``subject`` is the API key's name or the JWT's ``sub``; ``key_id`` is the API key's id or the
    JWT header's ``kid`` (``None`` for an HS256 token without one). Neither is a secret.
    """

    subject: str
    roles: frozenset[Role]
    via: Literal["api-key", "jwt", "token", "slack"]
    """``token``: the metrics scrape token (``IC_METRICS_TOKEN``), on /metrics only; ``slack``: a
    Slack user mapped by ``IC_SLACK_APPROVERS``, on the Slack interactions route only."""
    key_id: str | None = None


_READ = frozenset({Role.VIEWER, Role.RESPONDER, Role.APPROVER, Role.ADMIN})
_RESPOND = frozenset({Role.RESPONDER, Role.APPROVER, Role.ADMIN})
_APPROVE = frozenset({Role.APPROVER, Role.ADMIN})
_ADMIN = frozenset({Role.ADMIN})
_INGEST = frozenset({Role.INGEST, Role.ADMIN})
_ANYONE = frozenset(Role)

ROUTE_ROLES: Mapping[str, frozenset[Role]] = MappingProxyType(
    {
        "incidents.list": _READ,
        "incidents.get": _READ,
        "incidents.timeline": _READ,
        "incidents.votes": _READ,
        "incidents.decisions": _READ,
        "incidents.actions": _READ,
        "incidents.postmortem": _READ,
        "incidents.series": _READ,
        "incidents.ack": _RESPOND,
        "incidents.assign": _RESPOND,
        "incidents.resolve": _RESPOND,
        "incidents.note": _RESPOND,
        "incidents.approve": _APPROVE,
        "incidents.reject": _APPROVE,
        "alerts.ingest": _INGEST,
        "events.stream": _READ,
        "agents.read": _READ,
        "me.read": _ANYONE,
        "metrics.read": _READ,
        "audit.read": _READ,
        "audit.verify": _ADMIN,
        "keys.create": _ADMIN,
        "keys.list": _ADMIN,
        "keys.revoke": _ADMIN,
    }
)
"""Route name -> the roles allowed to call it. Read-only; one entry per route."""

_ROLE_ORDER = tuple(Role)


def _names(roles: frozenset[Role]) -> tuple[str, ...]:
    return tuple(role.value for role in _ROLE_ORDER if role in roles)


def authorize(principal: Principal, route: str) -> None:
    """Return if ``principal`` may call ``route``; else raise ``ForbiddenError`` naming the roles
    that would.

    An unknown ``route`` is a programming error and raises ``KeyError``: every route must have
    an entry in ``ROUTE_ROLES``.
    """
    try:
        allowed = ROUTE_ROLES[route]
    except KeyError:
        raise KeyError(f"route {route!r} has no entry in ROUTE_ROLES; add one") from None
    if principal.roles & allowed:
        return
    raise ForbiddenError(route, _names(allowed), _names(principal.roles))
