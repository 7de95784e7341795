"""``/v1/keys``: API keys, for admins. A key's secret is shown once, in the creation answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from services.audit import AuditRecord
from services.errors import NotFoundError
from services.gateway.auth import Principal
from services.gateway.deps import GatewayDep, caller
from services.gateway.params import KeyId
from services.gateway.problems import responses
from services.gateway.routes import API_PREFIX
from services.gateway.schemas import KeyCreated, KeyIn, KeyOut

router = APIRouter(prefix=f"{API_PREFIX}/keys", tags=["keys"])


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    responses=responses(400, 422, s403="Only admins manage keys."),
)
def create_key(
    body: KeyIn, gateway: GatewayDep, principal: Annotated[Principal, caller("keys.create")]
) -> KeyCreated:
    key_id, secret = gateway.keys.create(body.name, body.roles)
    gateway.trail.append(
        [
            AuditRecord(
                actor=principal.subject,
                kind="key.created",
                incident_id=None,
                data={"key_id": key_id, "name": body.name, "roles": sorted(body.roles)},
            )
        ]
    )
    return KeyCreated(id=key_id, name=body.name, roles=sorted(body.roles), key=secret)


@router.get("", response_model=list[KeyOut], responses=responses(s403="Only admins."))
def list_keys(
    gateway: GatewayDep, principal: Annotated[Principal, caller("keys.list")]
) -> list[KeyOut]:
    return [
        KeyOut(
            id=k.key_id,
            name=k.name,
            roles=sorted(k.roles),
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
        )
        for k in gateway.keys.list()
    ]


@router.delete(
    "/{key_id}",
    status_code=204,
    responses=responses(
        404, 409, 422, s404="No such key.", s409="It is the last active admin key."
    ),
)
def revoke_key(
    key_id: KeyId, gateway: GatewayDep, principal: Annotated[Principal, caller("keys.revoke")]
) -> Response:
    """Revoke a key from now on (revoking twice is fine). The last active admin key cannot be
    revoked (409): create another admin key first."""
    if not gateway.keys.revoke(key_id):
        raise NotFoundError(f"no API key {key_id!r}")
    gateway.trail.append(
        [
            AuditRecord(
                actor=principal.subject,
                kind="key.revoked",
                incident_id=None,
                data={"key_id": key_id},
            )
        ]
    )
    return Response(status_code=204)
