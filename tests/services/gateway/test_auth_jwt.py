"""Bearer JWTs: the tokens an identity provider would send are accepted, the attacks are not.

Keys are generated here with ``cryptography``; the JWKS is served either by a ``PyJWKClient``
whose ``fetch_data`` returns a dict (PyJWT's own seam) or by a real HTTP server on loopback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from jwtkit import (
    AUD,
    EC_KEY,
    ISS,
    JWKS,
    OTHER_RSA_KEY,
    RSA_KEY,
    SECRET,
    StaticJwksClient,
    b64,
    claims,
    forge,
    hs256,
    jwk,
    rs256,
)
from services.errors import ConfigurationError, UnauthenticatedError
from services.gateway.auth import ApiKeyStore, Authenticator, JwtVerifier, Principal, Role


@pytest.fixture
def client() -> StaticJwksClient:
    return StaticJwksClient(JWKS)


@pytest.fixture
def rs(client: StaticJwksClient) -> JwtVerifier:
    return JwtVerifier.jwks(issuer=ISS, audience=AUD, client=client)


@pytest.fixture
def hs() -> JwtVerifier:
    return JwtVerifier.hs256(SECRET, issuer=ISS, audience=AUD)


# What should work.


def test_an_rs256_token_from_the_jwks_is_accepted(rs: JwtVerifier) -> None:
    assert rs.verify(rs256(claims())) == Principal(
        subject="alice@example.com", roles=frozenset({Role.APPROVER}), via="jwt", key_id="rsa-1"
    )


def test_an_es256_token_from_the_jwks_is_accepted(rs: JwtVerifier) -> None:
    token = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert rs.verify(token).key_id == "ec-1"


def test_an_hs256_token_with_the_shared_secret_is_accepted(hs: JwtVerifier) -> None:
    principal = hs.verify(hs256(claims(roles=["viewer", "responder"])))
    assert principal.roles == {Role.VIEWER, Role.RESPONDER}
    assert principal.key_id is None


def test_one_of_several_audiences_is_enough() -> None:
    verifier = JwtVerifier.hs256(SECRET, issuer=ISS, audience=["other", AUD])
    assert verifier.verify(hs256(claims(aud=[AUD, "third"]))).subject == "alice@example.com"


def test_unknown_roles_are_ignored_and_missing_roles_mean_none(hs: JwtVerifier) -> None:
    assert hs.verify(hs256(claims(roles=["root", "viewer", "superuser"]))).roles == {Role.VIEWER}
    assert hs.verify(hs256(claims(roles=None))).roles == frozenset()


def test_roles_can_come_from_a_nested_claim() -> None:
    verifier = JwtVerifier.hs256(SECRET, issuer=ISS, audience=AUD, roles_claim="realm_access.roles")
    token = hs256(claims(roles=None, realm_access={"roles": ["admin", "offline_access"]}))
    assert verifier.verify(token).roles == {Role.ADMIN}


def test_roles_that_are_not_a_list_of_strings_are_refused(hs: JwtVerifier) -> None:
    with pytest.raises(UnauthenticatedError, match="'roles' claim must be a list of strings"):
        hs.verify(hs256(claims(roles="admin")))


def test_clock_skew_within_the_leeway_is_tolerated(hs: JwtVerifier) -> None:
    now = int(time.time())
    hs.verify(hs256(claims(exp=now - 10)))
    hs.verify(hs256(claims(nbf=now + 10, iat=now)))


def test_a_key_added_to_the_jwks_is_picked_up_on_first_sight() -> None:
    client = StaticJwksClient({"keys": [jwk(RSA_KEY, "rsa-1")]}, cooldown=0)
    verifier = JwtVerifier.jwks(issuer=ISS, audience=AUD, client=client)
    verifier.verify(rs256(claims()))
    client.jwks = {"keys": [jwk(RSA_KEY, "rsa-1"), jwk(OTHER_RSA_KEY, "rsa-2")]}
    assert verifier.verify(rs256(claims(), kid="rsa-2", key=OTHER_RSA_KEY)).key_id == "rsa-2"


def test_the_jwks_is_fetched_once_and_cached(client: StaticJwksClient, rs: JwtVerifier) -> None:
    for _ in range(5):
        rs.verify(rs256(claims()))
    assert client.fetches == 1


# The attacks: each refused with UnauthenticatedError and a reason that says what was wrong.


def test_alg_none_is_refused(rs: JwtVerifier, hs: JwtVerifier) -> None:
    token = forge({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims(), None)
    for verifier in (rs, hs):
        with pytest.raises(UnauthenticatedError, match="token algorithm 'none' is not allowed"):
            verifier.verify(token)


def test_hs_rs_key_confusion_is_refused(rs: JwtVerifier) -> None:
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forge({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), public_pem)
    with pytest.raises(UnauthenticatedError, match="token algorithm 'HS256' is not allowed"):
        rs.verify(token)


def test_a_header_alg_that_does_not_match_the_named_key_is_refused(rs: JwtVerifier) -> None:
    token = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "rsa-1"})
    with pytest.raises(UnauthenticatedError, match="does not match key 'rsa-1'"):
        rs.verify(token)


def test_an_expired_token_is_refused(hs: JwtVerifier, rs: JwtVerifier) -> None:
    past = int(time.time()) - 120
    with pytest.raises(UnauthenticatedError, match="token has expired"):
        hs.verify(hs256(claims(exp=past, iat=past - 60, nbf=past - 60)))
    with pytest.raises(UnauthenticatedError, match="token has expired"):
        rs.verify(rs256(claims(exp=past, iat=past - 60, nbf=past - 60)))


def test_a_token_not_yet_valid_is_refused(hs: JwtVerifier) -> None:
    with pytest.raises(UnauthenticatedError, match="token is not valid yet"):
        hs.verify(hs256(claims(nbf=int(time.time()) + 120)))


def test_a_token_for_another_audience_is_refused(hs: JwtVerifier, rs: JwtVerifier) -> None:
    with pytest.raises(UnauthenticatedError, match="audience is not accepted"):
        hs.verify(hs256(claims(aud="some-other-api")))
    with pytest.raises(UnauthenticatedError, match="audience is not accepted"):
        rs.verify(rs256(claims(aud=["some-other-api"])))


def test_a_token_from_another_issuer_is_refused(hs: JwtVerifier, rs: JwtVerifier) -> None:
    with pytest.raises(UnauthenticatedError, match="issuer is not accepted"):
        hs.verify(hs256(claims(iss="https://evil.example.com/")))
    with pytest.raises(UnauthenticatedError, match="issuer is not accepted"):
        rs.verify(rs256(claims(iss="https://evil.example.com/")))


def test_a_tampered_signature_is_refused(hs: JwtVerifier, rs: JwtVerifier) -> None:
    for verifier, token in ((hs, hs256(claims())), (rs, rs256(claims()))):
        head, body, sig = token.split(".")
        bad_sig = ("A" if sig[0] != "A" else "B") + sig[1:]
        with pytest.raises(UnauthenticatedError, match="signature does not verify"):
            verifier.verify(f"{head}.{body}.{bad_sig}")


def test_a_tampered_payload_is_refused(rs: JwtVerifier) -> None:
    head, _, sig = rs256(claims(roles=["viewer"])).split(".")
    elevated = b64(json.dumps(claims(roles=["admin"])).encode())
    with pytest.raises(UnauthenticatedError, match="signature does not verify"):
        rs.verify(f"{head}.{elevated}.{sig}")


def test_a_token_signed_with_the_wrong_secret_is_refused(hs: JwtVerifier) -> None:
    with pytest.raises(UnauthenticatedError, match="signature does not verify"):
        hs.verify(hs256(claims(), secret="t" * 40))


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(rs: JwtVerifier) -> None:
    with pytest.raises(UnauthenticatedError, match="signature does not verify"):
        rs.verify(rs256(claims(), kid="rsa-1", key=OTHER_RSA_KEY))


def test_an_unknown_kid_is_refused(rs: JwtVerifier) -> None:
    with pytest.raises(UnauthenticatedError, match="no signing key with kid 'rsa-9'"):
        rs.verify(rs256(claims(), kid="rsa-9", key=OTHER_RSA_KEY))


def test_unknown_kids_do_not_hammer_the_identity_provider(
    client: StaticJwksClient, rs: JwtVerifier
) -> None:
    rs.verify(rs256(claims()))
    for n in range(20):
        with pytest.raises(UnauthenticatedError, match="no signing key"):
            rs.verify(rs256(claims(), kid=f"made-up-{n}", key=OTHER_RSA_KEY))
    assert client.fetches <= 2


def test_a_jwks_token_without_a_kid_is_refused(rs: JwtVerifier) -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    with pytest.raises(UnauthenticatedError, match="no 'kid'"):
        rs.verify(token)


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES384", "HS512"])
def test_an_alg_outside_the_allow_list_is_refused(rs: JwtVerifier, alg: str) -> None:
    token = forge({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims(), b"k" * 64)
    with pytest.raises(UnauthenticatedError, match=f"token algorithm '{alg}' is not allowed"):
        rs.verify(token)


def test_a_narrower_allow_list_is_honoured() -> None:
    rs_only = JwtVerifier.jwks(
        issuer=ISS, audience=AUD, algorithms=["RS256"], client=StaticJwksClient(JWKS)
    )
    token = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    with pytest.raises(UnauthenticatedError, match="'ES256' is not allowed"):
        rs_only.verify(token)


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
def test_a_token_missing_a_required_claim_is_refused(hs: JwtVerifier, claim: str) -> None:
    with pytest.raises(UnauthenticatedError, match=f"token has no '{claim}' claim"):
        hs.verify(hs256(claims(**{claim: None})))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x.y.z", "e30.e30"])
def test_garbage_is_refused_as_malformed(hs: JwtVerifier, garbage: str) -> None:
    with pytest.raises(UnauthenticatedError, match="malformed"):
        hs.verify(garbage)


def test_the_reason_never_contains_the_token(hs: JwtVerifier) -> None:
    token = hs256(claims(aud="elsewhere"))
    with pytest.raises(UnauthenticatedError) as caught:
        hs.verify(token)
    assert token.split(".")[2] not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit"]), st.from_type(object)),
    body=st.binary(max_size=64),
    signature=st.text(max_size=20),
)
def test_any_header_or_body_is_refused_with_unauthenticated_only(
    header: dict[str, Any], body: bytes, signature: str
) -> None:
    try:
        head = b64(json.dumps(header, default=str).encode())
    except (TypeError, ValueError):
        return
    token = f"{head}.{b64(body)}.{signature}"
    verifier = JwtVerifier.jwks(issuer=ISS, audience=AUD, client=StaticJwksClient(JWKS))
    for candidate in (token, signature):
        with pytest.raises(UnauthenticatedError):
            verifier.verify(candidate)


# Configuration that would be unsafe is refused up front.


def test_a_short_hs256_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        JwtVerifier.hs256(SecretStr("x" * 31), issuer=ISS, audience=AUD)


def test_symmetric_algorithms_cannot_be_allowed_with_a_jwks() -> None:
    with pytest.raises(ConfigurationError, match="HS256 cannot be used with a JWKS"):
        JwtVerifier.jwks(
            issuer=ISS, audience=AUD, algorithms=["RS256", "HS256"], client=StaticJwksClient(JWKS)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": SECRET, "jwks_client": StaticJwksClient(JWKS)}, "not both"),
        ({}, "not both"),
        ({"secret": SECRET, "algorithms": ["RS256"]}, "RS256 cannot be used with an HS256"),
        ({"secret": SECRET, "issuer": ""}, "needs an issuer"),
        ({"secret": SECRET, "audience": []}, "needs an audience"),
        ({"secret": SECRET, "algorithms": []}, "at least one allowed algorithm"),
    ],
)
def test_unsafe_configurations_are_refused(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"issuer": ISS, "audience": AUD, "algorithms": ["HS256"]}
    settings.update(kwargs)
    with pytest.raises(ConfigurationError, match=message):
        JwtVerifier(**settings)


def test_a_jwks_verifier_needs_a_url_or_a_client() -> None:
    with pytest.raises(ConfigurationError, match="needs the JWKS URL"):
        JwtVerifier.jwks(issuer=ISS, audience=AUD)


# The production path: PyJWKClient fetching the JWKS over real HTTP (loopback only).


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, list[int]]]:
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            body = json.dumps(JWKS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_jwks_url_is_fetched_over_http_and_cached(jwks_server: tuple[str, list[int]]) -> None:
    url, hits = jwks_server
    verifier = JwtVerifier.jwks(url, issuer=ISS, audience=AUD)
    for _ in range(3):
        assert verifier.verify(rs256(claims())).subject == "alice@example.com"
    assert len(hits) == 1


def test_an_unreachable_jwks_url_refuses_tokens_without_a_500() -> None:
    verifier = JwtVerifier.jwks("http://127.0.0.1:9/jwks.json", issuer=ISS, audience=AUD)
    with pytest.raises(UnauthenticatedError, match="JWKS fetch failed"):
        verifier.verify(rs256(claims()))


# The Authenticator hands bearer tokens that are not API keys to the JWT verifier.


def test_authenticator_routes_a_bearer_jwt_to_the_verifier(tmp_path: Any, rs: JwtVerifier) -> None:
    with ApiKeyStore(tmp_path / "keys.sqlite3") as keys:
        auth = Authenticator(keys=keys, jwt=rs)
        principal = auth.require("incidents.approve", authorization=f"Bearer {rs256(claims())}")
        assert principal.via == "jwt"
        with pytest.raises(UnauthenticatedError, match="token has expired"):
            auth.authenticate(f"Bearer {rs256(claims(exp=int(time.time()) - 600))}")
