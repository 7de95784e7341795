"""Tracing through the gateway: a span per request, and under the commander's work a span per
graph node (with the incident id) and per AWS call."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from gatewaykit import gateway_settings
from services.aws.port import AwsPort
from services.gateway.app import create_app
from services.tracing import tracer_provider, uninstrument_botocore


def test_requests_graph_nodes_and_aws_calls_are_spans(tmp_path: Path, aws: AwsPort) -> None:
    exporter = InMemorySpanExporter()
    keys: list[str] = []
    app = create_app(
        gateway_settings(tmp_path), port=aws, registry=CollectorRegistry(),
        on_first_key=keys.append, tracing=tracer_provider(None, exporter=exporter),
    )  # fmt: skip
    try:
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {keys[0]}"}
            assert client.get("/v1/incidents", headers=headers).status_code == 200
            app.state.gateway.live.advance(20)  # the demo estate's bad deploy gets worked
    finally:
        uninstrument_botocore()
    spans = exporter.get_finished_spans()
    server = [
        s for s in spans if s.attributes and s.attributes.get("http.route") == "/v1/incidents"
    ]
    assert server, [s.name for s in spans][:20]
    nodes = [s for s in spans if s.name.startswith("graph.node ")]
    assert {"graph.node detect", "graph.node vote", "graph.node execute"} <= {s.name for s in nodes}
    assert all(
        str(s.attributes.get("incident.id", "")).startswith("inc-") for s in nodes if s.attributes
    )
    voters = {
        s.attributes.get("agent.name")
        for s in nodes
        if s.name == "graph.node vote" and s.attributes
    }
    assert voters == {"detection", "diagnosis", "remediation", "finops", "security"}
    aws_calls = [s for s in spans if s.attributes and s.attributes.get("rpc.system") == "aws-api"]
    assert {"ECS", "CloudWatch"} <= {
        str(s.attributes.get("rpc.service")) for s in aws_calls if s.attributes
    }
