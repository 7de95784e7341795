"""The attacks on authentication, through HTTP, against running gateways with JWTs configured.

Two gateways take JWTs: one with an HS256 shared secret, one with a JWKS (RS256 and ES256, the
key set served from memory through ``PyJWKClient``'s own seam). Every attack is answered 401
with a Bearer challenge and a reason that says what was wrong without echoing the credential.
A third gateway has small budgets, for the rate limits.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gatewaykit import Running, gateway_settings, running_gateway
from jwtkit import (
    AUD,
    EC_KEY,
    ISS,
    JWKS,
    OTHER_RSA_KEY,
    RSA_KEY,
    SECRET,
    StaticJwksClient,
    claims,
    es256,
    forge,
    hs256,
    rs256,
)
from services.aws.port import AwsPort
from services.gateway.app import create_app

JWT_SETTINGS = {"jwt_issuer": ISS, "jwt_audience": AUD}
MAX_BODY = 2048

UNKNOWN_INCIDENT = "/v1/incidents/inc-0000000000"
APPROVE = f"{UNKNOWN_INCIDENT}/approve"
ANSWER = {"hash": "0" * 64}
Response = Any
"""What TestClient answers: an httpx2 response under Starlette 1.x, an httpx one before."""


# -- tokens ----------------------------------------------------------------------------------------


def tampered(token: str) -> str:
    head, body, sig = token.split(".")
    return f"{head}.{body}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- gateways --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hs(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[Running]:
    """HS256 JWTs, and a small body limit."""
    folder = Path(tmp_path_factory.mktemp("auth-hs"))
    settings: dict[str, Any] = {**JWT_SETTINGS, "jwt_secret": SECRET, "max_body_bytes": MAX_BODY}
    with running_gateway(folder, aws, **settings) as running:
        yield running


@pytest.fixture(scope="module")
def rs(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[Running]:
    """JWTs signed by the keys of a JWKS (``running_gateway`` does not forward a JWKS client)."""
    settings = gateway_settings(Path(tmp_path_factory.mktemp("auth-rs")), **JWT_SETTINGS)
    registry = CollectorRegistry()
    first: list[str] = []
    app = create_app(
        settings, port=aws, registry=registry, jwks_client=StaticJwksClient(JWKS),
        on_first_key=first.append,
    )  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Running(app, client, settings, {"admin": first[0]}, registry)


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[Running]:
    folder = Path(tmp_path_factory.mktemp("auth-throttled"))
    with running_gateway(
        folder, aws, rate_limit="3/minute", auth_failure_limit="5/minute"
    ) as running:
        yield running


def _refused(response: Response, reason: str, *credential: str) -> None:
    """A 401 with a Bearer challenge, ``reason`` in the detail and no part of the credential."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer ")
    problem = response.json()
    assert problem["error"] == "unauthenticated"
    assert reason in problem["detail"], problem["detail"]
    for secret in credential:
        for part in secret.split("."):
            if len(part) > 8:  # header, payload and signature segments; the key's secret
                assert part not in response.text


# -- the attacks, each a 401 -----------------------------------------------------------------------


@pytest.mark.parametrize("gateway", ["hs", "rs"])
def test_alg_none_is_refused(request: pytest.FixtureRequest, gateway: str) -> None:
    running: Running = request.getfixturevalue(gateway)
    token = forge({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims(roles=["admin"]), None)
    response = running.client.get("/v1/keys", headers=bearer(token))
    _refused(response, "token algorithm 'none' is not allowed", token)


def test_hs_rs_key_confusion_is_refused(rs: Running) -> None:
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forge({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), public_pem)
    response = rs.client.post(APPROVE, json=ANSWER, headers=bearer(token))
    _refused(response, "token algorithm 'HS256' is not allowed", token)


def _past(**extra: Any) -> dict[str, Any]:
    past = int(time.time()) - 600
    return claims(exp=past, iat=past - 60, nbf=past - 60, **extra)


HS_ATTACKS: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (lambda: hs256(_past()), "token has expired"),
    "not yet valid": (
        lambda: hs256(claims(nbf=int(time.time()) + 600)),
        "token is not valid yet",
    ),
    "another audience": (
        lambda: hs256(claims(aud="some-other-api")),
        "token audience is not accepted here",
    ),
    "another issuer": (
        lambda: hs256(claims(iss="https://evil.example/")),
        "token issuer is not accepted here",
    ),
    "tampered signature": (lambda: tampered(hs256(claims())), "token signature does not verify"),
    "another secret": (
        lambda: hs256(claims(), secret="t" * 40),
        "token signature does not verify",
    ),
    "no exp": (lambda: hs256(claims(exp=None)), "token has no 'exp' claim"),
    "roles not a list": (
        lambda: hs256(claims(roles="admin")),
        "'roles' claim must be a list of strings",
    ),
    "not a JWT": (lambda: "not-a-token", "malformed token (not a JWT)"),
}

RS_ATTACKS: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (lambda: rs256(_past()), "token has expired"),
    "another audience": (
        lambda: rs256(claims(aud=["some-other-api"])),
        "token audience is not accepted here",
    ),
    "another issuer": (
        lambda: rs256(claims(iss="https://evil.example/")),
        "token issuer is not accepted here",
    ),
    "tampered signature": (lambda: tampered(rs256(claims())), "token signature does not verify"),
    "unknown kid": (
        lambda: rs256(claims(), kid="rsa-9", key=OTHER_RSA_KEY),
        "no signing key with kid 'rsa-9' in the JWKS",
    ),
    "another key under a known kid": (
        lambda: rs256(claims(), key=OTHER_RSA_KEY),
        "token signature does not verify",
    ),
    "no kid": (
        lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS256"),
        "token header has no 'kid'",
    ),
    "alg not the key's": (
        lambda: jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "rsa-1"}),
        "token algorithm ES256 does not match key 'rsa-1' (RS256)",
    ),
}


@pytest.mark.parametrize("attack", sorted(HS_ATTACKS))
def test_hs256_attacks_are_refused(hs: Running, attack: str) -> None:
    make, reason = HS_ATTACKS[attack]
    token = make()
    _refused(hs.client.post(APPROVE, json=ANSWER, headers=bearer(token)), reason, token)


@pytest.mark.parametrize("attack", sorted(RS_ATTACKS))
def test_jwks_attacks_are_refused(rs: Running, attack: str) -> None:
    make, reason = RS_ATTACKS[attack]
    token = make()
    _refused(rs.client.post(APPROVE, json=ANSWER, headers=bearer(token)), reason, token)


# -- good tokens, and roles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gateway", "sign"),
    [("hs", hs256), ("rs", rs256), ("rs", es256)],
    ids=["HS256", "RS256", "ES256"],
)
def test_a_valid_approver_token_reaches_the_approve_route(
    request: pytest.FixtureRequest, gateway: str, sign: Callable[[dict[str, Any]], str]
) -> None:
    running: Running = request.getfixturevalue(gateway)
    response = running.client.post(APPROVE, json=ANSWER, headers=bearer(sign(claims())))
    assert response.status_code == 404, response.text  # authorised; no such incident
    assert response.json()["error"] == "not_found"
    viewer = sign(claims(roles=["viewer"]))
    denied = running.client.post(APPROVE, json=ANSWER, headers=bearer(viewer))
    assert denied.status_code == 403
    assert denied.json()["detail"] == (
        "incidents.approve needs one of the roles approver, admin (you have viewer)"
    )


@pytest.mark.parametrize(
    "roles", [None, [], ["root", "superuser"]], ids=["no roles claim", "empty", "unknown roles"]
)
def test_a_token_without_a_known_role_is_authenticated_but_forbidden(
    hs: Running, roles: list[str] | None
) -> None:
    # jwt.py: a missing claim means no roles and names that are not roles are ignored, so the
    # token proves who is asking (not a 401) but lets them do nothing (403).
    token = hs256(claims(roles=roles))
    response = hs.client.get("/v1/incidents", headers=bearer(token))
    assert response.status_code == 403, response.text
    assert response.json()["detail"].endswith("(you have no roles)")


# -- API keys --------------------------------------------------------------------------------------


def _create_key(running: Running, name: str, roles: list[str]) -> dict[str, Any]:
    created = running.client.post(
        "/v1/keys", json={"name": name, "roles": roles}, headers=running.auth("admin")
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_a_revoked_key_is_refused_from_the_next_request(hs: Running) -> None:
    created = _create_key(hs, "short-lived", ["viewer"])
    key_id, key = created["id"], created["key"]
    assert hs.client.get("/v1/incidents", headers=bearer(key)).status_code == 200
    revoked = hs.client.delete(f"/v1/keys/{key_id}", headers=hs.auth("admin"))
    assert revoked.status_code == 204
    for headers in (bearer(key), {"X-API-Key": key}):
        response = hs.client.get("/v1/incidents", headers=headers)
        _refused(response, f"API key {key_id} has been revoked", key.rsplit("_", 1)[1])
    listed = {k["id"]: k for k in hs.client.get("/v1/keys", headers=hs.auth("admin")).json()}
    assert listed[key_id]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-API-Key": "ic_nothex_tooshort"}, "malformed API key"),
        ({"Authorization": "Bearer ic_0123456789abcdef_short"}, "malformed API key"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "malformed API key"),  # admin:admin
        ({"Authorization": "Bearer"}, "must read 'Bearer <token>'"),
        ({"X-API-Key": f"ic_{'0' * 16}_{'A' * 43}"}, "unknown or wrong API key"),
    ],
    ids=["x-api-key", "bearer", "basic", "empty bearer", "unknown key"],
)
def test_a_malformed_or_unknown_key_is_refused(
    hs: Running, headers: dict[str, str], reason: str
) -> None:
    _refused(hs.client.get("/v1/incidents", headers=headers), reason)


def test_a_right_key_id_with_a_wrong_secret_is_refused(hs: Running) -> None:
    key = hs.keys["viewer"]
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    response = hs.client.get("/v1/incidents", headers=bearer(wrong))
    _refused(response, "unknown or wrong API key", wrong.rsplit("_", 1)[1])


def test_two_credentials_at_once_are_refused(hs: Running) -> None:
    headers = {**hs.auth("admin"), "X-API-Key": hs.keys["viewer"]}
    response = hs.client.get("/v1/incidents", headers=headers)
    secrets = (hs.keys["admin"].rsplit("_", 1)[1], hs.keys["viewer"].rsplit("_", 1)[1])
    _refused(response, "send one credential, not both", *secrets)


def test_a_new_keys_secret_is_shown_once_and_never_again(hs: Running) -> None:
    before = hs.gateway.trail.last_seq()
    created = _create_key(hs, "shown-once", ["responder"])
    secret = created["key"]
    assert secret.startswith(f"ic_{created['id']}_")
    assert created["roles"] == ["responder"]

    listing = hs.client.get("/v1/keys", headers=hs.auth("admin"))
    assert created["id"] in listing.text
    assert secret not in listing.text
    assert secret.rsplit("_", 1)[1] not in listing.text
    assert all(set(k) >= {"id", "name", "roles"} and "key" not in k for k in listing.json())

    [entry] = [e for e in hs.gateway.trail.after(before) if e.kind == "key.created"]
    assert entry.data == {"key_id": created["id"], "name": "shown-once", "roles": ["responder"]}
    assert secret.rsplit("_", 1)[1] not in json.dumps(entry.to_json())
    audit = hs.client.get("/v1/audit", params={"after": before}, headers=hs.auth("viewer"))
    assert "key.created" in audit.text
    assert secret.rsplit("_", 1)[1] not in audit.text


# -- body limits -----------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_it_is_read(hs: Running) -> None:
    body = b" " * 4096  # 4 KiB, twice the limit; whitespace, so it is no JSON error first
    response = hs.client.post(
        "/v1/alerts/generic",
        content=body,
        headers={**hs.auth("ingest"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "payload_too_large",
        "detail": f"request bodies are limited to {MAX_BODY} bytes",
        "fields": [],
    }


def _chunks(total: int, size: int = 512) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(hs: Running) -> None:
    response = hs.client.post(
        "/v1/alerts/generic",
        content=_chunks(4096),  # a generator: sent chunked, with no Content-Length
        headers={**hs.auth("ingest"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"


def test_a_chunked_body_over_the_limit_is_413_on_every_route(hs: Running) -> None:
    response = hs.client.post(
        f"{UNKNOWN_INCIDENT}/notes",
        content=_chunks(4096),
        headers={**hs.auth("responder"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text


def test_a_request_without_a_credential_is_401_whatever_its_body(hs: Running) -> None:
    response = hs.client.post(
        f"{UNKNOWN_INCIDENT}/notes",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401, response.text


# -- rate limits -----------------------------------------------------------------------------------


def _retry_after(response: Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= 60
    return seconds


def test_an_address_that_keeps_failing_is_slowed_but_its_good_credentials_still_work(
    throttled: Running,
) -> None:
    """Its failures past the limit are 429 (back off), but a valid key from the same address
    is served: thirty bad requests from a shared address must not lock an operator out."""
    # Another client address than the module's own client, so only this one is locked out.
    attacker = TestClient(
        throttled.app, client=("203.0.113.7", 50000), raise_server_exceptions=False
    )
    guesses = [f"ic_{n:016x}_{'A' * 43}" for n in range(6)]
    for guess in guesses[:5]:  # auth_failure_limit = 5/minute
        _refused(attacker.get("/v1/incidents", headers=bearer(guess)), "unknown or wrong API key")
    over = attacker.get("/v1/incidents", headers=bearer(guesses[5]))
    _retry_after(over)
    assert "203.0.113.7" in over.json()["detail"]
    good = attacker.get("/v1/incidents", headers=throttled.auth("responder"))
    assert good.status_code == 200, good.text
    admin = attacker.get("/v1/keys", headers=throttled.auth("admin"))
    assert admin.status_code == 200, admin.text
    again = attacker.get("/v1/incidents", headers=bearer(guesses[0]))
    _retry_after(again)  # still over: a success does not reset the failures
    elsewhere = throttled.client.get("/v1/incidents", headers=throttled.auth("approver"))
    assert elsewhere.status_code == 200  # the lockout is the address's, not the gateway's


def test_a_principal_over_its_budget_is_refused_with_retry_after(throttled: Running) -> None:
    viewer = throttled.auth("viewer")
    for _ in range(3):  # rate_limit = 3/minute
        assert throttled.client.get("/v1/incidents", headers=viewer).status_code == 200
    over = throttled.client.get("/v1/incidents", headers=viewer)
    _retry_after(over)
    assert "viewer" in over.json()["detail"]
    assert throttled.client.get("/v1/audit", headers=viewer).status_code == 429  # every route
    others = throttled.client.get("/v1/incidents", headers=throttled.auth("admin"))
    assert others.status_code == 200  # the budget is the principal's


def test_an_api_key_as_the_basic_password_is_accepted_for_senders_that_only_have_a_url(
    hs: Running,
) -> None:
    # An SNS subscription to https://sns:<key>@gateway/v1/alerts/cloudwatch sends this.
    basic = base64.b64encode(f"sns:{hs.keys['ingest']}".encode()).decode()
    body = {"title": "disk full", "severity": "high", "status": "firing", "service": "checkout"}
    ok = hs.client.post(
        "/v1/alerts/generic", json=body, headers={"Authorization": f"Basic {basic}"}
    )
    assert ok.status_code == 202
    wrong = base64.b64encode(b"sns:ic_0000000000000000_nope").decode()
    refused = hs.client.post(
        "/v1/alerts/generic", json=body, headers={"Authorization": f"Basic {wrong}"}
    )
    assert refused.status_code == 401
    garbled = hs.client.post(
        "/v1/alerts/generic", json=body, headers={"Authorization": "Basic %%%"}
    )
    assert garbled.status_code == 401
    assert "Basic" in garbled.json()["detail"]
