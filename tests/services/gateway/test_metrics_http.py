"""``GET /metrics``: the commander's and the gateway's metrics in Prometheus' text format, fed
by what happened, named by Prometheus' conventions (checked by promtool itself)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conftest import skip_or_fail
from gatewaykit import PAYLOADS, running_gateway
from services.aws.port import AwsPort


def test_metrics_count_what_happened_and_pass_promtool(tmp_path: Path, aws: AwsPort) -> None:
    with running_gateway(tmp_path, aws) as running:
        body = PAYLOADS / "alertmanager_webhook_v4_firing.DERIVED-from-official-schema.json"
        delivered = running.client.post(
            "/v1/alerts/alertmanager", content=body.read_bytes(),
            headers={**running.auth("ingest"), "content-type": "application/json"},
        )  # fmt: skip
        assert delivered.status_code == 202
        assert (
            running.client.post("/v1/alerts/nope", headers=running.auth("ingest")).status_code
            == 404
        )
        running.client.get("/v1/incidents", headers={"Authorization": "Bearer ic_bad_key"})
        assert running.client.get("/v1/incidents", headers=running.auth("viewer")).is_success
        running.gateway.live.advance(20)  # the demo estate's bad deploy: an incident, worked

        assert running.client.get("/metrics").status_code == 401
        assert running.client.get("/metrics", headers=running.auth("ingest")).status_code == 403
        response = running.client.get("/metrics", headers=running.auth("viewer"))
    assert response.status_code == 200
    text = response.text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    accepted = ("ic_ingest_deliveries_total", (("result", "accepted"), ("source", "alertmanager")))
    rejected = ("ic_ingest_deliveries_total", (("result", "rejected"), ("source", "unknown")))
    assert samples[accepted] == 1
    assert samples[rejected] == 1
    assert samples[("ic_auth_failures_total", ())] >= 1
    assert samples[("ic_incidents_opened_total", ())] >= 1
    by_status = {labels: v for (name, labels), v in samples.items() if name == "ic_incidents"}
    assert sum(by_status.values()) == samples[("ic_incidents_opened_total", ())]
    assert all(
        dict(labels)["severity"] in {"sev1", "sev2", "sev3", "sev4", "none"} for labels in by_status
    )
    assert any(name == "ic_agent_votes_total" and value > 0 for (name, _), value in samples.items())
    assert any(
        name == "ic_http_requests_total" and ("route", "/v1/incidents") in labels
        for (name, labels), _ in samples.items()
    )
    assert "inc-" not in text  # incident ids are never labels

    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool (Debian package prometheus) is not installed")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" or "SUCCESS" in checked.stdout, checked.stdout
