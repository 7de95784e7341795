"""``DELETE /v1/keys/{key_id}`` will not lock the admins out: the last active admin key (the
caller's own or not) is refused with a 409 that says what to do instead."""

from __future__ import annotations

from pathlib import Path

from gatewaykit import running_gateway
from services.aws.port import AwsPort


def test_an_admin_cannot_revoke_the_last_admin_key_but_can_once_there_is_another(
    tmp_path: Path, aws: AwsPort
) -> None:
    with running_gateway(tmp_path, aws) as running:
        admin = running.auth("admin")
        [own] = [k["id"] for k in running.client.get("/v1/keys", headers=admin).json()
                 if "admin" in k["roles"]]  # fmt: skip
        refused = running.client.delete(f"/v1/keys/{own}", headers=admin)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["error"] == "last_admin_key"
        assert "last active admin key" in problem["detail"]
        assert "create another admin key first" in problem["detail"]
        assert running.client.get("/v1/keys", headers=admin).status_code == 200  # still works

        created = running.client.post(
            "/v1/keys", json={"name": "second-admin", "roles": ["admin"]}, headers=admin
        )
        assert created.status_code == 201
        assert running.client.delete(f"/v1/keys/{own}", headers=admin).status_code == 204
        second = {"Authorization": f"Bearer {created.json()['key']}"}
        last = running.client.delete(f"/v1/keys/{created.json()['id']}", headers=second)
        assert last.status_code == 409
        assert last.json()["error"] == "last_admin_key"
