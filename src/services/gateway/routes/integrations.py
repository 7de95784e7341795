"""``POST /v1/integrations/slack/interactions``: Slack's callback when someone clicks Approve
or Reject on an approval request the Slack app posted.

No API key: Slack cannot send one. The request is authenticated by its Slack signature and
the clicking user's mapping to a principal (``services.gateway.slack``), then answered by the
same operation as the API's approve and reject. Refusals are recorded in the audit trail
(``approval.refused``) and answered with the usual error body; a signature that fails counts
against the sender's address like a failed credential.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from orchestrator import operations
from orchestrator.commander import IncidentNotFoundError, NotAwaitingApprovalError
from services.audit import AuditRecord
from services.errors import (
    BadRequestError,
    CommanderError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
)
from services.gateway.auth import authorize
from services.gateway.deps import Gateway, GatewayDep, client_address
from services.gateway.problems import responses
from services.gateway.routes import API_PREFIX
from services.gateway.slack import Click, SlackRefusal

log = logging.getLogger(__name__)
router = APIRouter(prefix=f"{API_PREFIX}/integrations", tags=["integrations"])
PATH = f"{API_PREFIX}/integrations/slack/interactions"
_UNVERIFIED = frozenset({"stale", "bad_signature", "replayed"})


@router.post(
    "/slack/interactions",
    responses=responses(400, 401, 403, 404, 409, s404="No such incident, or Slack is not set up."),
)
async def slack_interactions(request: Request, gateway: GatewayDep) -> dict[str, Any]:
    """Approve or reject from Slack (signed by Slack; no API key)."""
    gate = gateway.slack
    if gate is None:
        raise NotFoundError("Slack approvals are not configured (IC_SLACK_SIGNING_SECRET)")
    address = client_address(request)
    body = await request.body()
    try:
        click = gate.check(body, request.headers)
        await _answer(gateway, click)
    except SlackRefusal as refusal:
        await run_in_threadpool(gateway.trail.append, [_refused(refusal)])
        if refusal.reason in _UNVERIFIED:  # counted as a failed credential: 429 past the limit
            gateway.throttle.failed(address)
        raise _error(refusal) from None
    verb = "approved" if click.answer == "grant" else "rejected"
    said = f"{click.principal.subject} {verb} the action of {click.incident_id} from Slack"
    if click.response_url:
        await _update_message(gateway, click.response_url, said)
    return {"text": said}


async def _answer(gateway: Gateway, click: Click) -> None:
    user, incident = click.user, click.incident_id
    try:
        authorize(click.principal, "incidents.approve")
    except ForbiddenError as exc:
        raise SlackRefusal("forbidden", exc.reason, user=user, incident=incident) from None
    answer = operations.Answer(
        incident, click.principal.subject, click.answer, click.token, f"from Slack ({user})"
    )
    try:
        await run_in_threadpool(gateway.commander.operate, answer)
    except IncidentNotFoundError as exc:
        raise SlackRefusal("not_found", str(exc), user=user, incident=incident) from None
    except NotAwaitingApprovalError as exc:
        raise SlackRefusal("not_awaiting", str(exc), user=user, incident=incident) from None


def _refused(refusal: SlackRefusal) -> AuditRecord:
    return AuditRecord(
        actor=f"slack:{refusal.user}" if refusal.user else "slack:unverified",
        kind="approval.refused",
        incident_id=refusal.incident_id,
        data={"via": "slack", "reason": refusal.reason, "detail": refusal.detail},
    )


def _error(refusal: SlackRefusal) -> CommanderError:
    match refusal.reason:
        case "stale" | "bad_signature" | "replayed":
            return UnauthenticatedError(
                f"Slack request refused ({refusal.reason}): {refusal.detail}"
            )
        case "malformed":
            return BadRequestError("payload", refusal.detail)
        case "unmapped_user" | "forbidden":
            return ForbiddenError("incidents.approve", ("approver", "admin"), ())
        case "not_found":
            return NotFoundError(refusal.detail)
        case "not_awaiting":
            return ConflictError(refusal.detail)


async def _update_message(gateway: Gateway, response_url: str, said: str) -> None:
    """Replace the buttons with who answered (best effort: the answer stands regardless)."""
    try:
        await gateway.http.post(response_url, json={"replace_original": True, "text": said})
    except Exception as exc:  # a chat message that cannot be updated changes nothing
        log.warning("could not update the Slack message: %s", exc)
