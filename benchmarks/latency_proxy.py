"""A reverse proxy on loopback that holds every AWS API call for a fixed delay before passing it
on, and counts the calls by operation: the emulator answers in about a millisecond, a real
region in tens of them, so this shows how many calls a decision makes in a row.

Written by hand (about sixty lines on ``http.server`` and ``http.client``): the proxies made for
the job (mitmproxy, toxiproxy) are a daemon or a heavy dependency to add a sleep and a counter.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class LatencyProxy:
    """``with LatencyProxy(upstream, delay_s) as proxy:`` point clients at ``proxy.url``."""

    def __init__(self, upstream: str, delay_s: float) -> None:
        target = urlsplit(upstream)
        self.delay_s = delay_s
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy._count(self.headers.get("X-Amz-Target"), body, self.path)
                time.sleep(proxy.delay_s)
                upstream_conn = getattr(proxy._local, "conn", None)
                if upstream_conn is None:
                    upstream_conn = http.client.HTTPConnection(target.hostname, target.port)
                    proxy._local.conn = upstream_conn
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                upstream_conn.request(self.command, self.path, body=body, headers=headers)
                answer = upstream_conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815 (http.server names)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _count(self, target: str | None, body: bytes, path: str) -> None:
        if target:  # JSON protocols: X-Amz-Target is Service.Operation
            name = target.rsplit(".", 1)[-1]
        else:  # query protocols: Action=...; REST ones: the path
            action = parse_qs(body.decode(errors="replace")).get("Action")
            name = action[0] if action else path.split("?")[0]
        with self._lock:
            self.calls[name] += 1

    def take(self) -> Counter[str]:
        """The calls counted since the last take."""
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
