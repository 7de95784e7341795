"""``/v1/incidents``: list, read, and act on incidents (acknowledge, assign, note, resolve,
approve)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from orchestrator import operations, postmortem
from orchestrator.commander import IncidentNotFoundError, NotAwaitingApprovalError
from orchestrator.summary import IncidentSummary
from services.errors import ConflictError, NotFoundError
from services.gateway import views
from services.gateway.auth import Principal
from services.gateway.deps import Gateway, GatewayDep, caller
from services.gateway.params import IncidentId, IncidentStatus, ServiceFilter, Severity
from services.gateway.problems import responses
from services.gateway.routes import API_PREFIX
from services.gateway.schemas import (
    ActionOut,
    ApprovalIn,
    ApprovalOut,
    AssignIn,
    AuditEntryOut,
    Changed,
    DecisionOut,
    IncidentDetail,
    IncidentPage,
    IncidentSeries,
    NoteIn,
    ResolveIn,
    TimelineEntry,
    VoteMatrix,
)

router = APIRouter(prefix=f"{API_PREFIX}/incidents", tags=["incidents"])


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Every route here takes parameters, so 422 is always one of the answers."""
    return responses(*statuses, 422, s404="No such incident.")


def _summary(gateway: Gateway, incident_id: str) -> IncidentSummary:
    summary = gateway.commander.incidents.get(incident_id)
    if summary is None:
        raise NotFoundError(f"no incident {incident_id!r}")
    return summary


def _values(gateway: Gateway, incident_id: str) -> dict[str, Any]:
    return gateway.commander.state(incident_id)


@router.get("", response_model=IncidentPage, responses=_errors(400, 422))
def list_incidents(
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.list")],
    status: Annotated[list[IncidentStatus] | None, Query(description="any of these")] = None,
    severity: Annotated[list[Severity] | None, Query(description="sev1 ... sev4")] = None,
    service: ServiceFilter = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> IncidentPage:
    """Incidents, newest first, filtered; follow `next_cursor` for the next page."""
    items, next_cursor = gateway.commander.incidents.page(
        statuses=set(status or ()),
        severities=set(severity or ()),
        service=service,
        limit=limit,
        cursor=cursor,
    )
    return IncidentPage(
        now=gateway.commander.clock.now,
        items=[views.incident(s) for s in items],
        next_cursor=next_cursor,
    )


@router.get("/{incident_id}", response_model=IncidentDetail, responses=_errors(404))
def get_incident(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.get")],
) -> IncidentDetail:
    """One incident: its summary, hypotheses with evidence, anomalies and candidate actions."""
    summary = _summary(gateway, incident_id)
    live = gateway.live
    return views.detail(
        summary, _values(gateway, incident_id),
        clock=gateway.commander.clock_of(incident_id),
        step_wall_s=None if live is None else live.step_wall_s,
    )  # fmt: skip


@router.get("/{incident_id}/timeline", response_model=list[TimelineEntry], responses=_errors(404))
def get_timeline(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.timeline")],
) -> list[TimelineEntry]:
    """What the graph did and what people did, in order."""
    _summary(gateway, incident_id)
    entries = gateway.trail.for_incident(incident_id)
    clock = gateway.commander.clock_of(incident_id)
    return views.timeline(_values(gateway, incident_id), entries, clock)


@router.get("/{incident_id}/votes", response_model=VoteMatrix, responses=_errors(404))
def get_votes(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.votes")],
) -> VoteMatrix:
    """Every agent's vote on every candidate action, and each round's decision matrix."""
    _summary(gateway, incident_id)
    return views.votes(_values(gateway, incident_id))


@router.get("/{incident_id}/decisions", response_model=list[DecisionOut], responses=_errors(404))
def get_decisions(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.decisions")],
) -> list[DecisionOut]:
    """Each round's consensus decision, the rule that decided it, and its matrix."""
    _summary(gateway, incident_id)
    return list(views.votes(_values(gateway, incident_id)).decisions)


@router.get("/{incident_id}/actions", response_model=list[ActionOut], responses=_errors(404))
def get_actions(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.actions")],
) -> list[ActionOut]:
    """Actions executed on AWS, with their result and rollback."""
    _summary(gateway, incident_id)
    return views.actions(_values(gateway, incident_id), gateway.commander.clock_of(incident_id))


@router.get("/{incident_id}/series", response_model=IncidentSeries, responses=_errors(404))
async def get_series(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.series")],
) -> IncidentSeries:
    """The anomalous metrics as charts, with the anomaly's onset and the actions marked."""
    _summary(gateway, incident_id)
    values = _values(gateway, incident_id)
    services = {a["service"] for a in values.get("anomalies", [])}

    series = gateway.commander.series
    got = await run_in_threadpool(series, incident_id, services) if services else {}
    live = gateway.live  # the estate this process watches: its catalogue names units, limits
    catalogue = None if live is None else live.commander.ctx.catalogue
    return views.series(values, got, gateway.commander.clock_of(incident_id), catalogue)


@router.get("/{incident_id}/audit", response_model=list[AuditEntryOut], responses=_errors(404))
def get_audit(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("audit.read")],
) -> list[AuditEntryOut]:
    """The incident's entries of the hash-chained audit trail."""
    _summary(gateway, incident_id)
    return [views.audit(e) for e in gateway.trail.for_incident(incident_id)]


@router.get(
    "/{incident_id}/postmortem",
    response_model=None,  # the answer is Markdown; errors stay JSON Problems
    responses={
        200: {
            "content": {"text/markdown": {"schema": {"type": "string"}}},
            "description": "A postmortem draft.",
        },
        **_errors(404),
    },
)
def get_postmortem(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.postmortem")],
) -> PlainTextResponse:
    """A postmortem draft in Markdown, from the incident's record."""
    summary = _summary(gateway, incident_id)
    values = _values(gateway, incident_id)
    text = postmortem.render(
        summary, values, gateway.trail.for_incident(incident_id),
        gateway.commander.clock_of(incident_id),
    )  # fmt: skip
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


async def _operate(gateway: Gateway, operation: operations.Operation) -> bool:
    """Hand ``operation`` to the commander, translating its lookups to HTTP."""
    try:
        return await run_in_threadpool(gateway.commander.operate, operation)
    except IncidentNotFoundError as exc:
        raise NotFoundError(str(exc)) from None
    except NotAwaitingApprovalError as exc:
        raise ConflictError(str(exc)) from None


def _changed(gateway: Gateway, incident_id: str, changed: bool) -> Changed:
    return Changed(
        incident_id=incident_id, changed=changed, status=_summary(gateway, incident_id).status
    )


@router.post("/{incident_id}/ack", response_model=Changed, responses=_errors(404))
async def acknowledge(
    incident_id: IncidentId,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.ack")],
) -> Changed:
    """Take ownership of the incident (once; later calls change nothing)."""
    changed = await _operate(gateway, operations.Acknowledge(incident_id, principal.subject))
    return _changed(gateway, incident_id, changed)


@router.post("/{incident_id}/assign", response_model=Changed, responses=_errors(400, 404, 422))
async def assign(
    incident_id: IncidentId,
    body: AssignIn,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.assign")],
) -> Changed:
    """Hand the incident to someone: they own it now (as if they had acknowledged it)."""
    changed = await _operate(gateway, operations.Assign(incident_id, principal.subject, body.to))
    return _changed(gateway, incident_id, changed)


@router.post("/{incident_id}/notes", response_model=Changed, responses=_errors(400, 404, 422))
async def add_note(
    incident_id: IncidentId,
    body: NoteIn,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.note")],
) -> Changed:
    """Add a note to the incident's timeline (and the audit trail)."""
    await _operate(gateway, operations.Note(incident_id, principal.subject, body.text))
    return _changed(gateway, incident_id, True)


@router.post("/{incident_id}/resolve", response_model=Changed, responses=_errors(400, 404, 422))
async def resolve(
    incident_id: IncidentId,
    body: ResolveIn,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.resolve")],
) -> Changed:
    """End the incident as resolved; a pending approval or verification is dropped."""
    changed = await _operate(
        gateway, operations.Resolve(incident_id, principal.subject, body.reason)
    )
    return _changed(gateway, incident_id, changed)


async def _answer(
    gateway: Gateway,
    incident_id: IncidentId,
    body: ApprovalIn,
    principal: Principal,
    answer: Literal["grant", "deny"],
) -> ApprovalOut:
    await _operate(
        gateway,
        operations.Answer(incident_id, principal.subject, answer, body.hash, body.comment),
    )
    return ApprovalOut(
        incident_id=incident_id,
        answer=answer,
        by=principal.subject,
        status=_summary(gateway, incident_id).status,
    )


@router.post(
    "/{incident_id}/approve", response_model=ApprovalOut, responses=_errors(400, 404, 409, 422)
)
async def approve(
    incident_id: IncidentId,
    body: ApprovalIn,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.approve")],
) -> ApprovalOut:
    """Approve the pending action: quote its `pending_approval.hash`. Single use: a second
    answer, or one for a request that expired, is a 409."""
    return await _answer(gateway, incident_id, body, principal, "grant")


@router.post(
    "/{incident_id}/reject", response_model=ApprovalOut, responses=_errors(400, 404, 409, 422)
)
async def reject(
    incident_id: IncidentId,
    body: ApprovalIn,
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("incidents.reject")],
) -> ApprovalOut:
    """Reject the pending action (the next round proposes another, or it escalates)."""
    return await _answer(gateway, incident_id, body, principal, "deny")
