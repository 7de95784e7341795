"""The RBAC matrix: every route x every role against a table written out here, not read from
the code, so a change to who may do what has to change this file too."""

from __future__ import annotations

import pytest

from services.errors import ForbiddenError
from services.gateway.auth import ROUTE_ROLES, Principal, Role, authorize

V, R, P, A, I = "viewer", "responder", "approver", "admin", "ingest"  # noqa: E741

EXPECTED: dict[str, set[str]] = {
    "incidents.list": {V, R, P, A},
    "incidents.get": {V, R, P, A},
    "incidents.timeline": {V, R, P, A},
    "incidents.votes": {V, R, P, A},
    "incidents.decisions": {V, R, P, A},
    "incidents.actions": {V, R, P, A},
    "incidents.postmortem": {V, R, P, A},
    "incidents.series": {V, R, P, A},
    "agents.read": {V, R, P, A},
    "me.read": {V, R, P, A, I},
    "incidents.ack": {R, P, A},
    "incidents.resolve": {R, P, A},
    "incidents.note": {R, P, A},
    "incidents.assign": {R, P, A},
    "incidents.approve": {P, A},
    "incidents.reject": {P, A},
    "alerts.ingest": {I, A},
    "events.stream": {V, R, P, A},
    "metrics.read": {V, R, P, A},
    "audit.read": {V, R, P, A},
    "audit.verify": {A},
    "keys.create": {A},
    "keys.list": {A},
    "keys.revoke": {A},
}

ALL_ROLES = (V, R, P, A, I)


def who(*roles: str) -> Principal:
    return Principal(subject="someone", roles=frozenset(Role(r) for r in roles), via="api-key")


def test_the_matrix_covers_exactly_the_expected_routes() -> None:
    assert set(ROUTE_ROLES) == set(EXPECTED)


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("route", sorted(EXPECTED))
def test_every_route_for_every_role(route: str, role: str) -> None:
    principal = who(role)
    if role in EXPECTED[route]:
        authorize(principal, route)
    else:
        with pytest.raises(ForbiddenError) as caught:
            authorize(principal, route)
        assert caught.value.route == route
        assert set(caught.value.allowed) == EXPECTED[route]
        assert caught.value.held == (role,)


def test_forbidden_message_names_the_route_and_the_roles_that_would_do() -> None:
    with pytest.raises(ForbiddenError) as caught:
        authorize(who(R), "incidents.approve")
    assert str(caught.value) == (
        "incidents.approve needs one of the roles approver, admin (you have responder)"
    )


def test_a_principal_with_no_roles_is_refused_everywhere() -> None:
    for route in EXPECTED:
        with pytest.raises(ForbiddenError, match=r"\(you have no roles\)"):
            authorize(who(), route)


def test_any_one_of_several_roles_is_enough() -> None:
    both = who(I, V)
    authorize(both, "alerts.ingest")
    authorize(both, "incidents.list")
    with pytest.raises(ForbiddenError):
        authorize(both, "incidents.ack")


def test_an_unknown_route_is_a_programming_error_not_an_open_door() -> None:
    with pytest.raises(KeyError, match=r"incidents\.delete"):
        authorize(who(A), "incidents.delete")


def test_the_matrix_cannot_be_changed_at_runtime() -> None:
    with pytest.raises(TypeError):
        ROUTE_ROLES["incidents.delete"] = frozenset({Role.VIEWER})  # type: ignore[index]
