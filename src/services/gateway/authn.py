"""Authentication as Starlette middleware (``AuthenticationMiddleware`` with our backend), so
a request is authenticated before anything reads its body: a client without a good credential
learns nothing about what its body would have done (no 422 before the 401).

A failed credential counts against its client address; past ``IC_AUTH_FAILURE_LIMIT`` the
failure is a 429 rather than a 401. A good credential is never refused for its address's
failures (``services.gateway.throttle`` says why). The principal is ``request.user``;
authorisation for the route (403) and the principal's rate limit happen in
``deps.caller``, which knows the route's name.

Every path is protected but the probes and the API documentation (``PUBLIC``).
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response

from services.errors import OverloadedError, RateLimitedError, UnauthenticatedError
from services.gateway import problems
from services.gateway.auth import Principal, Role

PUBLIC = frozenset(
    {
        "/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
        "/favicon.ico", "/v1/integrations/slack/interactions",
    }
)  # fmt: skip
"""Paths served without a credential (Slack's callback is authenticated by its signature)."""
PUBLIC_PREFIXES = ("/ui/",)
"""The dashboard's static files: the page signs in itself, in the browser."""


class PrincipalUser(BaseUser):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.subject


class RefusedError(AuthenticationError):
    """Carries why: a 401 (``presented`` says whether a credential came at all), a 429, or a
    503 when the key store cannot be read (the cluster's database is away)."""

    def __init__(
        self, cause: UnauthenticatedError | RateLimitedError | OverloadedError, presented: bool
    ) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.presented = presented


class CredentialBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        path = conn.url.path
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES) or path == "/ui":
            return None
        gateway = conn.app.state.gateway
        address = conn.client.host if conn.client else "unknown"
        authorization = conn.headers.get("authorization")
        api_key = conn.headers.get("x-api-key")
        if path == "/metrics" and _is_scrape_token(gateway.settings.metrics_token, authorization):
            return AuthCredentials([Role.VIEWER.value]), PrincipalUser(SCRAPER)
        presented = bool(authorization or api_key)
        try:
            # JWKS verification may fetch the key set (blocking): off the event loop.
            principal = await run_in_threadpool(
                gateway.authenticator.authenticate, authorization, api_key
            )
        except UnauthenticatedError as exc:
            gateway.metrics.auth_failures.inc()
            try:
                gateway.throttle.failed(address)
            except RateLimitedError as limited:
                raise RefusedError(limited, presented) from exc
            raise RefusedError(exc, presented) from exc
        except OverloadedError as exc:
            raise RefusedError(exc, presented) from exc
        roles = [role.value for role in principal.roles]
        return AuthCredentials(roles), PrincipalUser(principal)


SCRAPER = Principal(subject="metrics-scraper", roles=frozenset({Role.VIEWER}), via="token")
"""Who presents ``IC_METRICS_TOKEN``: a viewer, on ``GET /metrics`` only (nowhere else is the
token looked at), so a scrape credential in Prometheus's config opens nothing but metrics."""


def _is_scrape_token(token: SecretStr | None, authorization: str | None) -> bool:
    if token is None or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


def refused(conn: HTTPConnection, exc: Exception) -> Response:
    """``AuthenticationMiddleware``'s ``on_error``: the Problem answer for a refusal."""
    assert isinstance(exc, RefusedError)
    if isinstance(exc.cause, RateLimitedError):
        return problems.rate_limited(exc.cause)
    if isinstance(exc.cause, OverloadedError):
        return problems.overloaded(exc.cause)
    return problems.unauthenticated(exc.cause, presented=exc.presented)
