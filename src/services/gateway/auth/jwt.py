"""Bearer JWTs, verified with PyJWT: HS256 with a shared secret, or RS256/ES256 from a JWKS URL.

A verifier is one of two kinds, never both, and its algorithm allow-list is fixed to its kind:
an HS256 verifier accepts only HS256, a JWKS verifier only asymmetric algorithms. That, plus
checking the token's ``alg`` against the allow-list *before* any key is chosen, and verifying a
JWKS token only with the algorithm of the key its ``kid`` names, closes alg ``none`` and HS/RS key
confusion (an HS256 token "signed" with the RSA public key). PyJWT also refuses PEM keys as HMAC
secrets; that is a second lock, not the first.

Every token must carry ``exp``, ``iss``, ``aud`` and ``sub``; ``iss`` and ``aud`` must match,
``nbf`` is honoured, and clocks may disagree by ``leeway`` (30 s by default, at most 5 min).

JWKS: ``jwt.PyJWKClient`` fetches the set (the only I/O here, a blocking urllib call: call
``verify`` from a worker thread, as FastAPI does for sync dependencies), caches it for
``jwks_lifespan`` and refetches on an unknown ``kid`` at most once per ``cooldown`` so a stream of
made-up ``kid``s cannot hammer the identity provider. Tests pass their own client (a
``PyJWKClient`` subclass whose ``fetch_data`` returns a dict) so no network is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import jwt
from pydantic import SecretStr

from services.errors import ConfigurationError, UnauthenticatedError
from services.gateway.auth.rbac import Principal, Role

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MIN_SECRET_BYTES = 32
MAX_LEEWAY = timedelta(minutes=5)
_REQUIRED = ["exp", "iss", "aud", "sub"]
_ROLE_VALUES = {role.value: role for role in Role}


class JwtVerifier:
    """Turns a bearer token into a ``Principal`` or raises ``UnauthenticatedError`` with the reason.

    Build one with ``JwtVerifier.hs256(...)`` or ``JwtVerifier.jwks(...)``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Sequence[str],
        algorithms: Sequence[str],
        secret: SecretStr | None = None,
        jwks_client: jwt.PyJWKClient | None = None,
        leeway: timedelta = timedelta(seconds=30),
        roles_claim: str = "roles",
    ) -> None:
        if (secret is None) == (jwks_client is None):
            raise ConfigurationError("a JWT verifier needs an HS256 secret or a JWKS, not both")
        if not issuer:
            raise ConfigurationError("a JWT verifier needs an issuer to check")
        audiences = [audience] if isinstance(audience, str) else list(audience)
        if not audiences or not all(audiences):
            raise ConfigurationError("a JWT verifier needs an audience to check")
        if not algorithms:
            raise ConfigurationError("a JWT verifier needs at least one allowed algorithm")
        allowed_kind = ("HS256",) if secret is not None else ASYMMETRIC_ALGORITHMS
        stray = sorted(set(algorithms) - set(allowed_kind))
        if stray:
            kind = "an HS256 secret" if secret is not None else "a JWKS"
            raise ConfigurationError(
                f"algorithms {', '.join(stray)} cannot be used with {kind}; "
                f"allowed: {', '.join(allowed_kind)}"
            )
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"the HS256 secret must be at least {MIN_SECRET_BYTES} bytes "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        if not timedelta(0) <= leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"JWT leeway must be between 0 and {MAX_LEEWAY}")
        if not roles_claim:
            raise ConfigurationError("the roles claim needs a name")
        self.issuer = issuer
        self.audiences = tuple(audiences)
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self.roles_claim = roles_claim
        self._secret = secret
        self._jwks = jwks_client

    @classmethod
    def hs256(
        cls,
        secret: SecretStr,
        *,
        issuer: str,
        audience: str | Sequence[str],
        leeway: timedelta = timedelta(seconds=30),
        roles_claim: str = "roles",
    ) -> JwtVerifier:
        """Tokens signed with a shared secret (at least 32 bytes)."""
        return cls(
            issuer=issuer,
            audience=audience,
            algorithms=("HS256",),
            secret=secret,
            leeway=leeway,
            roles_claim=roles_claim,
        )

    @classmethod
    def jwks(
        cls,
        url: str | None = None,
        *,
        issuer: str,
        audience: str | Sequence[str],
        algorithms: Sequence[str] = ASYMMETRIC_ALGORITHMS,
        client: jwt.PyJWKClient | None = None,
        jwks_lifespan: timedelta = timedelta(minutes=5),
        cooldown: timedelta = timedelta(seconds=30),
        timeout: timedelta = timedelta(seconds=5),
        leeway: timedelta = timedelta(seconds=30),
        roles_claim: str = "roles",
    ) -> JwtVerifier:
        """Tokens signed by an OIDC provider's keys, published at ``url`` (or given as
        ``client``, which tests use to supply the key set without a network)."""
        if client is None:
            if not url:
                raise ConfigurationError("a JWKS verifier needs the JWKS URL")
            client = jwt.PyJWKClient(
                url,
                cache_jwk_set=True,
                lifespan=jwks_lifespan.total_seconds(),
                timeout=timeout.total_seconds(),
                cooldown_duration=cooldown.total_seconds(),
            )
        return cls(
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            jwks_client=client,
            leeway=leeway,
            roles_claim=roles_claim,
        )

    def verify(self, token: str) -> Principal:
        """The principal a bearer token stands for, or ``UnauthenticatedError`` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise UnauthenticatedError("malformed token (not a JWT)") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise UnauthenticatedError(
                f"token algorithm {alg!r} is not allowed (allowed: {', '.join(self.algorithms)})"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise UnauthenticatedError("token header 'kid' must be a string")
        key, algorithms = self._key_for(alg, kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=algorithms,
                audience=list(self.audiences),
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED},
            )
        except jwt.InvalidTokenError as exc:
            raise UnauthenticatedError(_reason(exc)) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise UnauthenticatedError("token 'sub' must be a non-empty string")
        roles = _roles(claims, self.roles_claim)
        return Principal(subject=subject, roles=roles, via="jwt", key_id=kid)

    def _key_for(self, alg: str, kid: str | None) -> tuple[Any, list[str]]:
        if self._secret is not None:
            return self._secret.get_secret_value(), ["HS256"]
        assert self._jwks is not None
        if kid is None:
            raise UnauthenticatedError("token header has no 'kid' to choose a signing key with")
        try:
            signing_key = self._jwks.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise UnauthenticatedError("signing keys are unavailable (JWKS fetch failed)") from None
        except (jwt.PyJWKClientError, jwt.PyJWKError, jwt.PyJWKSetError):
            raise UnauthenticatedError(f"no signing key with kid {kid!r} in the JWKS") from None
        key_alg = signing_key.algorithm_name
        if key_alg not in self.algorithms:
            raise UnauthenticatedError(
                f"signing key {kid!r} is for {key_alg}, which is not allowed"
            )
        if alg != key_alg:
            raise UnauthenticatedError(
                f"token algorithm {alg} does not match key {kid!r} ({key_alg})"
            )
        return signing_key, [key_alg]


def _reason(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return f"token is not valid yet ({exc})"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token has no {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "token audience is not accepted here"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "token issuer is not accepted here"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "token signature does not verify"
    if isinstance(exc, jwt.InvalidAlgorithmError | jwt.InvalidKeyError):
        return f"token cannot be verified with the configured key ({exc})"
    if isinstance(exc, jwt.DecodeError):
        return "malformed token"
    return f"invalid token ({exc})"


def _roles(claims: Mapping[str, Any], claim: str) -> frozenset[Role]:
    """Roles from ``claim`` (a dotted path such as ``realm_access.roles`` reaches into objects).
    Missing means no roles; names that are not roles are ignored; anything but a list of
    strings is refused."""
    value: Any = claims
    for part in claim.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return frozenset()
        value = value[part]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UnauthenticatedError(f"token {claim!r} claim must be a list of strings")
    names: Iterable[str] = value
    return frozenset(_ROLE_VALUES[name] for name in names if name in _ROLE_VALUES)
