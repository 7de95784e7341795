"""What routes depend on, as ``Annotated`` aliases: the running gateway's parts, and the
authenticated principal for a named route (``Caller("incidents.approve")``).

Authentication order: an address that failed too often lately is refused (429) before its
credential is read; a failed credential counts against its address; a good one is authorised
for the route (403 when it lacks the role) and then counts against the principal's budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from orchestrator.live import LiveCommander
from services.audit import AuditTrail
from services.errors import UnauthenticatedError
from services.gateway.alerts import IngestOptions
from services.gateway.auth import ApiKeyStore, Authenticator, Principal
from services.gateway.telemetry import GatewayMetrics
from services.gateway.throttle import Throttle
from services.settings import Settings


@dataclass(slots=True)
class Gateway:
    """Everything the routes use, opened in the app's lifespan."""

    settings: Settings
    keys: ApiKeyStore
    authenticator: Authenticator
    throttle: Throttle
    trail: AuditTrail
    live: LiveCommander
    registry: CollectorRegistry
    metrics: GatewayMetrics
    http: httpx.AsyncClient
    ingest_options: IngestOptions


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def caller(route: str) -> Any:
    """``principal: Annotated[Principal, caller("incidents.get")]``: the authenticated,
    authorised principal for the route of that name (``services.gateway.auth.rbac``)."""

    async def dependency(request: Request, gateway: GatewayDep) -> Principal:
        address = client_address(request)
        gateway.throttle.refuse_if_failing(address)
        try:
            # JWKS verification may fetch the key set (blocking): off the event loop.
            principal = await run_in_threadpool(
                gateway.authenticator.require,
                route,
                authorization=request.headers.get("authorization"),
                api_key=request.headers.get("x-api-key"),
            )
        except UnauthenticatedError:
            gateway.throttle.failed(address)
            gateway.metrics.auth_failures.inc()
            raise
        gateway.throttle.call(principal.subject, ingest=route == "alerts.ingest")
        request.state.principal = principal
        return principal

    marker: Callable[..., Awaitable[Principal]] = dependency
    return Depends(marker)
