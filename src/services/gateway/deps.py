"""What routes depend on, as ``Annotated`` aliases: the running gateway's parts, and the
principal for a named route (``caller("incidents.approve")``): authenticated by
``services.gateway.authn`` before the body is read, authorised here (403 when it lacks the
role), then counted against its rate limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry

from orchestrator.backend import CommanderBackend
from orchestrator.live import LiveCommander
from services.audit import AuditEntry, AuditTrail
from services.errors import UnauthenticatedError
from services.gateway.alerts import IngestOptions
from services.gateway.auth import Authenticator, KeyStore, Principal, authorize
from services.gateway.authn import PrincipalUser
from services.gateway.slack import SlackGate
from services.gateway.sns_signature import SnsSignatures
from services.gateway.telemetry import GatewayMetrics
from services.gateway.throttle import Throttle
from services.pg.audit import PgAuditTrail
from services.settings import Settings


class EventFeed(Protocol):
    """New audit entries as they are appended, by whichever process (``/v1/events``)."""

    def subscribe(self, callback: Callable[[list[AuditEntry]], None]) -> Callable[[], None]: ...


@dataclass(slots=True)
class Gateway:
    """Everything the routes use, opened in the app's lifespan."""

    settings: Settings
    keys: KeyStore
    authenticator: Authenticator
    throttle: Throttle
    trail: AuditTrail | PgAuditTrail
    feed: EventFeed
    commander: CommanderBackend
    live: LiveCommander | None
    """The commander in this process (None: it runs in the cluster's workers)."""
    registry: CollectorRegistry
    metrics: GatewayMetrics
    http: httpx.AsyncClient
    sns: SnsSignatures
    ingest_options: IngestOptions
    slack: SlackGate | None = None
    """Checks Slack's approval clicks (None: IC_SLACK_SIGNING_SECRET is not set)."""


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def caller(route: str) -> Any:
    """``principal: Annotated[Principal, caller("incidents.get")]``: the principal
    ``authn`` authenticated, authorised for the route of that name
    (``services.gateway.auth.rbac``) and counted against its rate limit."""

    def dependency(request: Request, gateway: GatewayDep) -> Principal:
        user = request.scope.get("user")
        if not isinstance(user, PrincipalUser):  # a public path: no route there needs a role
            raise UnauthenticatedError(f"{route} needs a credential")
        authorize(user.principal, route)
        gateway.throttle.call(user.principal.subject, ingest=route == "alerts.ingest")
        return user.principal

    marker: Callable[..., Principal] = dependency
    return Depends(marker)
