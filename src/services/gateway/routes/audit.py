"""``/v1/audit``: read the hash-chained audit trail, and verify it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from services.gateway import views
from services.gateway.auth import Principal
from services.gateway.deps import GatewayDep, caller
from services.gateway.params import IncidentFilter, Seq
from services.gateway.problems import responses
from services.gateway.routes import API_PREFIX
from services.gateway.schemas import AuditPage, ChainOut

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])


@router.get("", response_model=AuditPage, responses=responses(422))
def read_audit(
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("audit.read")],
    after: Seq = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    incident: IncidentFilter = None,
) -> AuditPage:
    """Audit entries in order; follow `next_after` for the next page."""
    entries = gateway.trail.after(after, limit=limit, incident_id=incident)
    next_after = entries[-1].seq if len(entries) == limit else None
    return AuditPage(items=[views.audit(e) for e in entries], next_after=next_after)


@router.post("/verify", response_model=ChainOut, responses=responses(422))
async def verify_audit(
    gateway: GatewayDep, principal: Annotated[Principal, caller("audit.verify")]
) -> ChainOut:
    """Recompute every entry's hash and link; `ok` false names the first bad entry."""
    report = await run_in_threadpool(gateway.trail.verify)
    return ChainOut(
        ok=report.ok, checked=report.checked, first_bad_seq=report.first_bad_seq,
        reason=report.reason,
    )  # fmt: skip
