"""Who is asking and whether they may: the gateway's authentication and authorisation core.

Framework-free. ``rbac`` holds the roles, the ``Principal`` and the route x role matrix;
``keys`` the API key store; ``jwt`` the bearer-token verifier. ``Authenticator`` reads the two
credential headers and picks the right one, so a FastAPI dependency is one line::

    principal = authenticator.require(
        "incidents.approve",
        authorization=request.headers.get("authorization"),
        api_key=request.headers.get("x-api-key"),
    )

``UnauthenticatedError`` maps to 401 and ``ForbiddenError`` to 403 (``services.errors``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from services.errors import UnauthenticatedError
from services.gateway.auth.jwt import JwtVerifier
from services.gateway.auth.keys import ApiKeyInfo, ApiKeyStore, KeyStore
from services.gateway.auth.rbac import ROUTE_ROLES, Principal, Role, authorize

__all__ = [
    "ROUTE_ROLES",
    "ApiKeyInfo",
    "ApiKeyStore",
    "Authenticator",
    "JwtVerifier",
    "KeyStore",
    "Principal",
    "Role",
    "authorize",
]

_KEY_PREFIX = "ic_"


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Accepts an API key (``X-API-Key: ic_...``, ``Authorization: Bearer ic_...``, or HTTP
    Basic with the key as the password, for senders that can only put credentials in a URL,
    such as an SNS subscription ``https://sns:ic_...@host/v1/alerts/cloudwatch``) or, when a
    ``jwt`` verifier is configured, ``Authorization: Bearer <JWT>``. Exactly one credential."""

    keys: KeyStore
    jwt: JwtVerifier | None = None

    def authenticate(self, authorization: str | None, api_key: str | None = None) -> Principal:
        """The principal behind the request's credential, or ``UnauthenticatedError`` saying why."""
        if authorization and api_key:
            raise UnauthenticatedError("send one credential, not both Authorization and X-API-Key")
        if api_key:
            return self.keys.verify(api_key.strip())
        if not authorization:
            raise UnauthenticatedError(
                "no credential: send Authorization: Bearer <token> or X-API-Key"
            )
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "basic" and credential:
            return self.keys.verify(_basic_password(credential))
        if scheme.lower() != "bearer" or not credential:
            raise UnauthenticatedError(
                "the Authorization header must read 'Bearer <token>' (or Basic with an API key "
                "as the password)"
            )
        if credential.startswith(_KEY_PREFIX):
            return self.keys.verify(credential)
        if self.jwt is None:
            raise UnauthenticatedError("JWT bearer tokens are not accepted here; use an API key")
        return self.jwt.verify(credential)

    def require(
        self, route: str, *, authorization: str | None, api_key: str | None = None
    ) -> Principal:
        """Authenticate, then ``authorize`` for ``route``: 401 or 403 or the principal."""
        principal = self.authenticate(authorization, api_key)
        authorize(principal, route)
        return principal


def _basic_password(credential: str) -> str:
    """The password of an HTTP Basic credential (the user name is ignored)."""
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthenticatedError(
            "malformed Basic credential (expected base64 of user:key)"
        ) from None
    _, sep, password = decoded.partition(":")
    if not sep or not password:
        raise UnauthenticatedError("the Basic credential's password must be an API key")
    return password
