"""``serve`` with a model configured: the live commander asks it during diagnosis (through the
real ChatBedrockConverse, against a local Converse stub), the incident's timeline says what it
answered, and /metrics counts the requests and their cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from bedrockkit import bedrock_stub, dummy_credentials
from gatewaykit import running_gateway
from services.aws.port import AwsPort


def test_the_live_commander_takes_a_second_opinion_and_counts_it(
    tmp_path: Path, aws: AwsPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    dummy_credentials(monkeypatch)
    with bedrock_stub(mode="echo") as stub, running_gateway(
        tmp_path, aws, llm_provider="bedrock", llm_endpoint_url=stub.url, llm_timeout_s=5.0
    ) as running:  # fmt: skip
        for _ in range(20):  # the demo estate's bad deploy: confirmed, then diagnosed
            running.gateway.live.advance(1)
            if stub.requests:
                break
        assert stub.requests, "the model was never asked"
        viewer = running.auth("viewer")
        [incident] = running.client.get("/v1/incidents", headers=viewer).json()["items"]
        timeline = running.client.get(f"/v1/incidents/{incident['id']}/timeline", headers=viewer)
        said = [t["text"] for t in timeline.json() if t["actor"] == "diagnosis"]
        assert any(text.startswith("model ") and " used: " in text for text in said), said
        metrics = running.client.get("/metrics", headers=viewer).text
    assert "ic_llm_requests_total{model=" in metrics
    assert 'outcome="used"' in metrics
    assert "ic_llm_cost_usd_total" in metrics
