"""Tokens as an identity provider (or an attacker) would make them, for the JWT tests: keys
generated here with ``cryptography``, a JWKS answered from memory through ``PyJWKClient``'s
own seam (``fetch_data``), signed and hand-forged tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import SecretStr

ISS = "https://idp.example.com/"
AUD = "incident-commander"
SECRET = SecretStr("s" * 40)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(private, rsa.RSAPrivateKey):
        data = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        data = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


JWKS = {"keys": [jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1")]}


class StaticJwksClient(jwt.PyJWKClient):
    """PyJWKClient with its one I/O method answered from memory; counts fetches."""

    def __init__(self, jwks: dict[str, Any], cooldown: float = 30) -> None:
        super().__init__("https://idp.invalid/jwks", cooldown_duration=cooldown)
        self.jwks = jwks
        self.fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(self.jwks)
        return self.jwks


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims a real identity provider would sign for an approver; ``None`` drops a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "alice@example.com",
        "iss": ISS,
        "aud": AUD,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "roles": ["approver"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def rs256(payload: dict[str, Any], kid: str = "rsa-1", key: Any = RSA_KEY) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def es256(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})


def hs256(payload: dict[str, Any], secret: str = SECRET.get_secret_value()) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token assembled by hand, as an attacker would: HMAC with any bytes, or no signature."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    mac = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"
