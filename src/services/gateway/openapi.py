"""The API's OpenAPI document with its security schemes: every operation but the public ones
(``authn.PUBLIC``) takes any one of an API key in ``X-API-Key``, a bearer token (an API key
or, when configured, a JWT) or HTTP Basic with an API key as the password, so ``/docs`` has
an Authorize button and clients generated from the document send a credential.

Authentication itself is middleware (``services.gateway.authn``), which FastAPI's document
cannot see; this adds what it would have said.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.gateway.authn import PUBLIC

SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key, `ic_<key id>_<secret>`.",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key, or a JWT from the configured issuer (IC_JWT_ISSUER).",
    },
    "Basic": {
        "type": "http",
        "scheme": "basic",
        "description": "Any user name, an API key as the password (for SNS subscriptions).",
    },
}
ANY_ONE: list[dict[str, list[str]]] = [{name: []} for name in SCHEMES]
"""One requirement per scheme: any one of them will do."""


def install(app: FastAPI) -> None:
    """Serve ``app``'s document with the security schemes (FastAPI builds it once and caches
    it; the schemes are added to that copy, once)."""
    build = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = SCHEMES
            for path, operations in schema.get("paths", {}).items():
                if path not in PUBLIC:
                    for operation in operations.values():
                        operation["security"] = ANY_ONE
        return app.openapi_schema or build()

    app.openapi = document  # type: ignore[method-assign]
