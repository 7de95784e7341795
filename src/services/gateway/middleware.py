"""Two pure ASGI middlewares (not ``BaseHTTPMiddleware``, which buffers streaming responses
and would hold the SSE stream back): a request body limit, and HTTP request metrics.

Neither Starlette nor FastAPI limits request bodies; uvicorn does not either (it limits
headers). The limit is small enough to write here: refuse by ``Content-Length`` before reading,
and count the bytes of a chunked body as they arrive.

Refusing is not enough: a server that answers before the body is read keeps the connection
open for the next request, and so reads (and throws away) the rest of the body, however large.
Any answer given while a request's body is still arriving (a 413, a 401, a GET that never
reads the body it was sent) therefore says ``Connection: close``, and uvicorn closes the
connection once the answer is sent instead of reading on.
"""

from __future__ import annotations

import json
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._detail = f"request bodies are limited to {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        # Whether the body is all in: at once when the request declares none.
        received = declared in (None, b"0") and b"transfer-encoding" not in dict(scope["headers"])

        async def limited_receive() -> Message:
            nonlocal seen, received
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException, because FastAPI re-raises those from body parsing
                    # (anything else becomes its 400); the app's handler answers 413.
                    raise HTTPException(413, self._detail)
                received = not message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not received:
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "payload_too_large",
                "detail": self._detail,
                "fields": [],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class HttpMetrics:
    """``ic_http_requests_total`` and ``ic_http_request_duration_seconds`` by method, route
    template (``/v1/incidents/{incident_id}``, never the id itself) and status class."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "ic_http_requests",
            "HTTP requests served, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "ic_http_request_duration_seconds",
            "Time to the end of the response (SSE: the whole stream), by method and route.",
            ["method", "route"],
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.requests.labels(method, template, str(status)).inc()
            self.duration.labels(method, template).observe(time.perf_counter() - started)
