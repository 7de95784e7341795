"""The body limit on a real server, over a raw socket: a client that sends a huge chunked body
slowly gets its answer (413, or whatever the route says without reading the body) with
``Connection: close``, and the server closes the connection instead of reading the rest.

Before, uvicorn kept the connection for the next request and so read every byte of a 200 MB
body after answering 413 at the first MiB. A server that drains would accept all of
``FLOOD`` here; one that closes breaks the connection within the kernel's socket buffers."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from gatewaykit import Running, running_gateway, served
from services.aws.port import AwsPort

MAX_BODY = 64 * 1024
CHUNK = b"x" * 65536
FRAME = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
FLOOD = 256 * 1024 * 1024
"""What the client would send after the answer if the server kept reading (256 MiB)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[tuple[Running, int]]:
    with (
        running_gateway(tmp_path_factory.mktemp("body"), aws, max_body_bytes=MAX_BODY) as running,
        served(running.app) as base,
    ):
        yield running, int(urlsplit(base).port or 0)


def _flood(port: int, head: str) -> tuple[bytes, int]:
    """Send ``head`` then chunks until the server answers; then keep sending until the
    connection breaks. The answer, and how many bytes the server let through after it."""
    answer = b""
    after = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            while after < FLOOD:
                sock.sendall(FRAME)
                if answer:
                    after += len(FRAME)
                elif select.select([sock], [], [], 0.002)[0]:  # slowly, watching for an answer
                    answer = sock.recv(65536)
                    assert answer, "the server closed without answering"
        except (BrokenPipeError, ConnectionResetError):
            if not answer:
                # The server answered and closed while a send was blocked (a loaded machine):
                # its answer is already in this socket's receive queue.
                answer = _queued(sock)
    return answer, after


def _queued(sock: socket.socket) -> bytes:
    try:
        sock.settimeout(1)
        return sock.recv(65536)
    except OSError:
        return b""


def _head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def _assert_closed_early(answer: bytes, after: int, status: int) -> None:
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 %d " % status), answer[:200]
    assert b"\r\nconnection: close" in head
    assert after < 64 * 1024 * 1024, f"the server read {after} bytes after answering"


def test_a_chunked_body_over_the_limit_is_413_and_the_rest_is_never_read(
    server: tuple[Running, int],
) -> None:
    running, port = server
    headers = {**running.auth("admin"), "Content-Type": "application/json"}
    answer, after = _flood(port, _head("POST", "/v1/keys", headers))
    _assert_closed_early(answer, after, 413)
    assert b'"error":"payload_too_large"' in answer


def test_a_chunked_body_on_a_get_is_not_drained(server: tuple[Running, int]) -> None:
    running, port = server
    answer, after = _flood(port, _head("GET", "/v1/incidents", running.auth("viewer")))
    _assert_closed_early(answer, after, 200)


def test_a_chunked_body_without_a_credential_is_not_drained(server: tuple[Running, int]) -> None:
    _, port = server
    answer, after = _flood(port, _head("POST", "/v1/keys", {"Content-Type": "application/json"}))
    _assert_closed_early(answer, after, 401)


def test_a_request_whose_body_was_read_keeps_its_connection(server: tuple[Running, int]) -> None:
    """Only a request with body left unread loses its connection: keep-alive still works."""
    running, port = server
    token = running.auth("viewer")["Authorization"]
    request = f"GET /v1/incidents HTTP/1.1\r\nHost: test\r\nAuthorization: {token}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(request.encode())
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert b"connection: close" not in answer.lower()
