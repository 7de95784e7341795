"""A local HTTP stub of the Bedrock Runtime Converse API, for the real ChatBedrockConverse.

It answers ``POST /model/{modelId}/converse`` in the shape of botocore's service model for
bedrock-runtime (``ConverseResponse``: ``output.message``, ``stopReason``, ``usage``,
``metrics``), and errors as botocore's rest-json parser reads them (``x-amzn-ErrorType``
header and ``__type`` in the body). ``mode`` picks the behaviour:

- ``echo``: a plausible answer: the rule-based hypotheses the prompt lists, as a Ranking tool
  call citing the same evidence ids (so a scenario's outcome does not change), then ``extra``;
- ``good``: ``answer`` (a Ranking dict) as the tool call;
- ``malformed``: a tool call whose input is not a Ranking;
- ``slow``: ``good``, after ``delay_s`` seconds;
- ``throttle``: 429 ThrottlingException for the first ``throttles`` requests, then ``good``.

Every request's model id and body is kept in ``requests``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
_RULE = re.compile(
    r"^- H\d+ service=(?P<service>\S+) fault=(?P<fault>\S+) "
    r"confidence=(?P<confidence>[\d.]+) evidence=(?P<evidence>\S*)$",
    re.MULTILINE,
)
INPUT_TOKENS = 900
OUTPUT_TOKENS = 120


@dataclass
class BedrockStub:
    mode: str = "good"
    answer: dict[str, Any] = field(default_factory=lambda: {"hypotheses": []})
    delay_s: float = 0.0
    throttles: int = 10**6
    extra: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prompt(self, index: int = -1) -> str:
        """All text of one request's messages and system prompt."""
        body = self.requests[index][1]
        parts = [b.get("text", "") for b in body.get("system", [])]
        for message in body.get("messages", []):
            parts += [b.get("text", "") for b in message.get("content", [])]
        return "\n".join(parts)

    def respond(self, model: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append((model, body))
            count = len(self.requests)
        if self.mode == "throttle" and count <= self.throttles:
            payload = {"message": "Too many requests, please wait before trying again."}
            return (
                429,
                {"x-amzn-ErrorType": "ThrottlingException:http://internal"},
                _json({"__type": "ThrottlingException", **payload}),
            )
        if self.mode == "slow":
            self.stop.wait(self.delay_s)
        tools = body.get("toolConfig", {}).get("tools", [])
        name = tools[0]["toolSpec"]["name"] if tools else "Ranking"
        if self.mode == "malformed":
            tool_input: Any = {"ranking": "checkout, probably"}
        elif self.mode == "echo":
            tool_input = {"hypotheses": _echo(self.prompt(count - 1)) + self.extra}
        else:
            tool_input = self.answer
        return 200, {}, _json(_converse(name, tool_input, f"tooluse_{count}"))


def _echo(prompt: str) -> list[dict[str, Any]]:
    return [
        {
            "service": m["service"],
            "fault": m["fault"],
            "confidence": float(m["confidence"]),
            "evidence": [e for e in m["evidence"].split(",") if e],
            "rationale": "agrees with the rules",
        }
        for m in _RULE.finditer(prompt)
    ]


def _converse(tool: str, tool_input: Any, tool_use_id: str) -> dict[str, Any]:
    """A ConverseResponse whose message is one toolUse block."""
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": tool_use_id, "name": tool, "input": tool_input}}
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {
            "inputTokens": INPUT_TOKENS,
            "outputTokens": OUTPUT_TOKENS,
            "totalTokens": INPUT_TOKENS + OUTPUT_TOKENS,
        },
        "metrics": {"latencyMs": 42},
    }


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _handler(stub: BedrockStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            match = _PATH.match(self.path)
            if not match:
                self._send(404, {"x-amzn-ErrorType": "UnknownOperationException"}, b"{}")
                return
            status, headers, body = stub.respond(unquote(match["model"]), json.loads(raw))
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def bedrock_stub(**kwargs: Any) -> Iterator[BedrockStub]:
    stub = BedrockStub(**kwargs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.stop.set()
        server.shutdown()
        server.server_close()


def dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials botocore signs the stub's requests with (the stub checks none)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def main() -> None:
    """Serve the stub in ``echo`` mode until interrupted: ``python tests/bedrockkit.py 8599``."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8599
    stub = BedrockStub(mode="echo")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(stub))
    print(f"Bedrock Converse stub (echo) on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(f"{len(stub.requests)} requests answered", flush=True)


if __name__ == "__main__":
    main()
