"""Every route the app exposes x every role, over HTTP, against a running gateway.

``test_rbac.py`` checks the matrix itself; this checks that each route really asks the matrix,
under the name this file expects, before it does anything else: an allowed role gets the
route's own answer (a 404 for an incident that does not exist: authorisation came first), a
denied role a 403 naming the route, and a request without a credential a 401 with a Bearer
challenge. The table below is written out by hand and must name every route of the app, so a
route added without a row here fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from gatewaykit import Running, running_gateway
from services.aws.port import AwsPort
from services.gateway.auth import ROUTE_ROLES, Role

UNKNOWN_INCIDENT = "inc-0000000000"
UNKNOWN_KEY = "0" * 16
PROBE_ALERT = {
    "title": "RBAC matrix probe",
    "service": "not-in-the-demo-estate",
    "severity": "info",
    "status": "firing",
    "fingerprint": "rbac-matrix-probe",
}


@dataclass(frozen=True)
class Row:
    """How to call one route: its RBAC name, a concrete path and body, and what a role the
    matrix allows gets back."""

    name: str
    path: str
    allowed: int
    body: dict[str, Any] | None = field(default=None)


def _incident(tail: str = "") -> str:
    return f"/v1/incidents/{UNKNOWN_INCIDENT}{tail}"


ANSWER = {"hash": "0" * 64, "comment": "matrix"}

ROUTES: dict[tuple[str, str], Row] = {
    ("GET", "/v1/incidents"): Row("incidents.list", "/v1/incidents", 200),
    ("GET", "/v1/incidents/{incident_id}"): Row("incidents.get", _incident(), 404),
    ("GET", "/v1/incidents/{incident_id}/timeline"): Row(
        "incidents.timeline", _incident("/timeline"), 404
    ),
    ("GET", "/v1/incidents/{incident_id}/votes"): Row("incidents.votes", _incident("/votes"), 404),
    ("GET", "/v1/incidents/{incident_id}/decisions"): Row(
        "incidents.decisions", _incident("/decisions"), 404
    ),
    ("GET", "/v1/incidents/{incident_id}/actions"): Row(
        "incidents.actions", _incident("/actions"), 404
    ),
    ("GET", "/v1/incidents/{incident_id}/audit"): Row("audit.read", _incident("/audit"), 404),
    ("GET", "/v1/incidents/{incident_id}/series"): Row(
        "incidents.series", _incident("/series"), 404
    ),
    ("GET", "/v1/incidents/{incident_id}/postmortem"): Row(
        "incidents.postmortem", _incident("/postmortem"), 404
    ),
    ("POST", "/v1/incidents/{incident_id}/ack"): Row("incidents.ack", _incident("/ack"), 404),
    ("POST", "/v1/incidents/{incident_id}/assign"): Row(
        "incidents.assign", _incident("/assign"), 404, {"to": "matrix"}
    ),
    ("POST", "/v1/incidents/{incident_id}/notes"): Row(
        "incidents.note", _incident("/notes"), 404, {"text": "matrix"}
    ),
    ("POST", "/v1/incidents/{incident_id}/resolve"): Row(
        "incidents.resolve", _incident("/resolve"), 404, {"reason": "matrix"}
    ),
    ("POST", "/v1/incidents/{incident_id}/approve"): Row(
        "incidents.approve", _incident("/approve"), 404, ANSWER
    ),
    ("POST", "/v1/incidents/{incident_id}/reject"): Row(
        "incidents.reject", _incident("/reject"), 404, ANSWER
    ),
    ("POST", "/v1/alerts/{source}"): Row("alerts.ingest", "/v1/alerts/generic", 202, PROBE_ALERT),
    ("GET", "/v1/events"): Row("events.stream", "/v1/events", 200),
    ("GET", "/v1/me"): Row("me.read", "/v1/me", 200),
    ("GET", "/v1/agents"): Row("agents.read", "/v1/agents", 200),
    ("GET", "/v1/audit"): Row("audit.read", "/v1/audit", 200),
    ("POST", "/v1/audit/verify"): Row("audit.verify", "/v1/audit/verify", 200),
    ("POST", "/v1/keys"): Row(
        "keys.create", "/v1/keys", 201, {"name": "matrix-made", "roles": ["viewer"]}
    ),
    ("GET", "/v1/keys"): Row("keys.list", "/v1/keys", 200),
    ("DELETE", "/v1/keys/{key_id}"): Row("keys.revoke", f"/v1/keys/{UNKNOWN_KEY}", 404),
    ("GET", "/metrics"): Row("metrics.read", "/metrics", 200),
}
"""(method, path template) -> how to call it. Every APIRoute of the app but the probes."""

PROBES = {("GET", "/healthz"), ("GET", "/readyz")}
"""Unauthenticated on purpose: an orchestrator's liveness and readiness checks."""
SIGNED = {("POST", "/v1/integrations/slack/interactions")}
"""Authenticated by the sender's signature, not a credential (test_slack_approvals.py)."""
FAVICON = ("GET", "/favicon.ico")
"""Unauthenticated on purpose: a browser asks for it without credentials."""

SSE = ("GET", "/v1/events")
ROLES = tuple(role.value for role in Role)
CASES = sorted(ROUTES)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[Running]:
    with running_gateway(Path(tmp_path_factory.mktemp("rbac-matrix")), aws) as running:
        yield running


def _exposed(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every APIRoute the app serves. Newer FastAPI keeps each
    included router as one entry of ``app.routes``; ``iter_route_contexts`` flattens them."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(flatten(app.routes)) if flatten else list(app.routes)
    return {
        (method, context.path)
        for context in contexts
        if isinstance(getattr(context, "original_route", context), APIRoute)
        for method in context.methods
    }


def _call(running: Running, route: tuple[str, str], headers: dict[str, str]) -> Any:
    method, _ = route
    row = ROUTES[route]
    return running.client.request(method, row.path, json=row.body, headers=headers)


def test_the_table_names_every_route_of_the_app_and_every_rbac_entry(running: Running) -> None:
    exposed = _exposed(running.app)
    assert exposed >= PROBES
    unlisted = exposed - PROBES - SIGNED - {FAVICON} - set(ROUTES)
    assert not unlisted, f"routes without a row in ROUTES (add one): {sorted(unlisted)}"
    assert exposed >= SIGNED
    gone = set(ROUTES) - exposed
    assert not gone, f"rows for routes the app does not expose: {sorted(gone)}"
    assert {row.name for row in ROUTES.values()} == set(ROUTE_ROLES)


def test_the_probes_need_no_credential(running: Running) -> None:
    for _, path in sorted(PROBES):
        assert running.client.get(path).status_code == 200


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", CASES, ids=[f"{m} {p}" for m, p in CASES])
def test_every_route_for_every_role(running: Running, route: tuple[str, str], role: str) -> None:
    row = ROUTES[route]
    headers = running.auth(role)
    if Role(role) not in ROUTE_ROLES[row.name]:
        response = _call(running, route, headers)
        assert response.status_code == 403, response.text
        problem = response.json()
        assert problem["error"] == "forbidden"
        assert problem["detail"].startswith(f"{row.name} needs one of the roles ")
        assert problem["detail"].endswith(f"(you have {role})")
        assert problem["fields"] == []
        return
    if route == SSE:  # an endless stream: check it opens, then hang up
        with running.client.stream("GET", row.path, headers=headers) as response:
            assert response.status_code == row.allowed
            assert response.headers["content-type"].startswith("text/event-stream")
        return
    response = _call(running, route, headers)
    assert response.status_code not in (401, 403), response.text
    assert response.status_code == row.allowed, response.text


@pytest.mark.parametrize("route", CASES, ids=[f"{m} {p}" for m, p in CASES])
def test_no_credential_is_challenged_on_every_route(
    running: Running, route: tuple[str, str]
) -> None:
    response = _call(running, route, {})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json() == {
        "error": "unauthenticated",
        "detail": "no credential: send Authorization: Bearer <token> or X-API-Key",
        "fields": [],
    }
