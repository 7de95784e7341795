"""Liveness, readiness and ``/metrics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.model import AgentName, Stance
from services.gateway.auth import ROUTE_ROLES, Principal
from services.gateway.deps import GatewayDep, caller
from services.gateway.problems import responses
from services.gateway.schemas import AgentHealth, Health, Me

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
    health = gateway.commander.health()
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


@router.get("/v1/me", response_model=Me, responses=responses(), tags=["auth"])
def me(principal: Annotated[Principal, caller("me.read")]) -> Me:
    """The caller's identity and roles (the dashboard shows approve buttons by them)."""
    return Me(
        subject=principal.subject,
        roles=sorted(principal.roles),
        via=principal.via,
        can_approve=bool(principal.roles & ROUTE_ROLES["incidents.approve"]),
        can_respond=bool(principal.roles & ROUTE_ROLES["incidents.resolve"]),
    )


@router.get("/v1/agents", response_model=list[AgentHealth], responses=responses())
def agents(
    gateway: GatewayDep, principal: Annotated[Principal, caller("agents.read")]
) -> list[AgentHealth]:
    """Each agent's votes, abstentions, rejections and mean voting latency since start."""
    sample = gateway.registry.get_sample_value
    out = []
    for agent in AgentName:
        labels = {"agent": agent.value}
        rounds = sample("ic_agent_vote_duration_seconds_count", labels) or 0.0
        seconds = sample("ic_agent_vote_duration_seconds_sum", labels) or 0.0
        stances = {
            stance.value: int(
                sample("ic_agent_votes_total", labels | {"stance": stance.value}) or 0
            )
            for stance in Stance
        }
        out.append(
            AgentHealth(
                agent=agent.value,
                votes=sum(stances.values()),
                abstentions=stances[Stance.ABSTAIN.value],
                rejections=stances[Stance.REJECT.value],
                rounds=int(rounds),
                mean_latency_s=seconds / rounds if rounds else None,
            )
        )
    return out
