"""CORS: off unless origins are listed; then only those origins, and preflights are answered
before authentication (browsers never send credentials with them)."""

from __future__ import annotations

from pathlib import Path

from gatewaykit import running_gateway
from services.aws.port import AwsPort

ALLOWED = "https://ops.example.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


def test_no_origin_is_allowed_by_default(tmp_path: Path, aws: AwsPort) -> None:
    with running_gateway(tmp_path, aws) as running:
        response = running.client.get(
            "/v1/incidents", headers={**running.auth("viewer"), "Origin": ALLOWED}
        )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_listed_origins_only(tmp_path: Path, aws: AwsPort) -> None:
    with running_gateway(tmp_path, aws, cors_origins=[ALLOWED]) as running:
        client = running.client
        approve = "/v1/incidents/x/approve"
        preflight = client.options(approve, headers={**PREFLIGHT, "Origin": ALLOWED})
        foreign = client.options(
            approve, headers={**PREFLIGHT, "Origin": "https://evil.example.com"}
        )
        read = client.get("/v1/incidents", headers={**running.auth("viewer"), "Origin": ALLOWED})
        refused = client.get("/v1/incidents", headers={"Origin": ALLOWED})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    assert read.headers["access-control-allow-origin"] == ALLOWED
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ALLOWED  # the page can read why
