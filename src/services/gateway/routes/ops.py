"""Liveness, readiness and ``/metrics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway.auth import Principal
from services.gateway.deps import GatewayDep, caller
from services.gateway.problems import responses
from services.gateway.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", include_in_schema=True, summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The commander's worker is not running."}},
    summary="Readiness: the commander's worker runs",
)
def readyz(gateway: GatewayDep) -> Response:
    health = gateway.live.health()
    body = Health(
        status="ok" if health.running else "degraded",
        step=health.step,
        estate_done=health.estate_done,
        queued_alerts=health.queued,
        last_error=health.last_error,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if health.running else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."},
        **responses(),
    },
    summary="Prometheus metrics (scrape with an API key as bearer token)",
)
def metrics(
    gateway: GatewayDep, principal: Annotated[Principal, caller("metrics.read")]
) -> Response:
    return Response(generate_latest(gateway.registry), media_type=CONTENT_TYPE_LATEST)
