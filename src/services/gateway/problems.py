"""The one place errors become HTTP answers, all in one shape (``schemas.Problem``):
``{"error": <code>, "detail": <what a client can act on>, "fields": [{field, message}]}``.

    IngestError             400 (UnknownSourceError 404, ContentTypeError 415)
    BadRequestError         400
    RequestValidationError  422, every field named
    UnauthenticatedError    401 with WWW-Authenticate: Bearer
    ForbiddenError          403
    NotFoundError           404
    ConflictError           409 (LastAdminKeyError: "last_admin_key")
    RateLimitedError        429 with Retry-After
    UpstreamError           502
    OverloadedError         503 with Retry-After
    HTTPException           its own status (unknown route 404, wrong method 405)
    anything else           500 "internal_error", logged with its trace; never expected
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.errors import (
    BadRequestError,
    ConflictError,
    ContentTypeError,
    ForbiddenError,
    IngestError,
    LastAdminKeyError,
    NotFoundError,
    OverloadedError,
    RateLimitedError,
    UnauthenticatedError,
    UnknownSourceError,
    UpstreamError,
)

log = logging.getLogger(__name__)


DESCRIPTIONS: dict[int, str] = {
    400: "A parameter or the body makes no sense (a body that is not UTF-8 JSON text).",
    401: "No credential, or one that proves nothing (WWW-Authenticate says so).",
    403: "The credential lacks a role this route needs.",
    404: "No such thing.",
    409: "The thing moved on: an approval answered, expired or for another request.",
    413: "The body is over the size limit.",
    415: "The body is not JSON.",
    422: "The request breaks the schema; `fields` says where.",
    429: "Over the rate limit; see Retry-After.",
    502: "A call made on the client's behalf failed; try again.",
    503: "The commander's alert queue is full: nothing was taken; retry after Retry-After.",
}


def responses(*statuses: int, **overrides: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses (401, 403 and 429 always: every route but the
    probes authenticates), each answered with a ``Problem``. ``overrides`` word a status for
    one route: ``responses(404, s404="No such incident.")``."""
    from services.gateway.schemas import Problem

    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({401, 403, 429, *statuses}):
        text = overrides.get(f"s{status}", DESCRIPTIONS[status])
        out[status] = {"model": Problem, "description": text}
    return out


def problem(
    status: int,
    error: str,
    detail: str,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": error, "detail": detail, "fields": fields or []}
    return JSONResponse(body, status_code=status, headers=headers)


def _ingest(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestError)
    status, code = 400, "invalid_alert"
    if isinstance(exc, UnknownSourceError):
        status, code = 404, "unknown_source"
    elif isinstance(exc, ContentTypeError):
        status, code = 415, "unsupported_media_type"
    fields = [{"field": i.field, "message": i.message} for i in exc.issues]
    return problem(status, code, str(exc), fields)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": ".".join(str(p) for p in error.get("loc", ())), "message": str(error["msg"])}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return problem(422, "invalid_request", detail, fields)


def unauthenticated(exc: UnauthenticatedError, *, presented: bool = True) -> JSONResponse:
    """401 with the RFC 6750 challenge: ``error="invalid_token"`` only when a credential
    came (a request with none gets the bare challenge)."""
    challenge = 'Bearer realm="incident-commander"'
    if presented:
        challenge += ', error="invalid_token"'
    return problem(401, "unauthenticated", exc.reason, headers={"WWW-Authenticate": challenge})


def _unauthenticated(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnauthenticatedError)
    return unauthenticated(exc)


def _simple(status: int, code: str) -> Any:
    def handle(request: Request, exc: Exception) -> JSONResponse:
        return problem(status, code, str(exc))

    return handle


def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadRequestError)
    return problem(400, "bad_request", str(exc), [{"field": exc.field, "message": str(exc)}])


def rate_limited(exc: RateLimitedError) -> JSONResponse:
    return problem(429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)})


def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimitedError)
    return rate_limited(exc)


def overloaded(exc: OverloadedError) -> JSONResponse:
    return problem(503, "overloaded", str(exc), headers={"Retry-After": str(exc.retry_after)})


def _overloaded(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OverloadedError)
    return overloaded(exc)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {
        400: "invalid_request",  # FastAPI: a JSON body that is not UTF-8 text
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }
    code = codes.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, code, str(exc.detail), headers=headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal_error", "the gateway failed on this request; it is logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(IngestError, _ingest)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(UnauthenticatedError, _unauthenticated)
    app.add_exception_handler(ForbiddenError, _simple(403, "forbidden"))
    app.add_exception_handler(BadRequestError, _bad_request)
    app.add_exception_handler(NotFoundError, _simple(404, "not_found"))
    app.add_exception_handler(ConflictError, _simple(409, "conflict"))
    app.add_exception_handler(LastAdminKeyError, _simple(409, "last_admin_key"))
    app.add_exception_handler(RateLimitedError, _rate_limited)
    app.add_exception_handler(UpstreamError, _simple(502, "upstream_failed"))
    app.add_exception_handler(OverloadedError, _overloaded)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
