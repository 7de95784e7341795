"""Every real payload in ``shared/fixtures/payloads``, delivered to ``serve`` on an estate whose
routes map it, lands in an incident on the service its route names, visible through the API.

The estate is the foreign one of ``estatekit`` (a moto server process), drafted by ``estate
discover``; the test adds the routes a team would write for its monitoring: Prometheus' node
job and Grafana's team label to web, every CloudWatch alarm ARN to checkout, PagerDuty's mysql
component to orders-db, GuardDuty findings on access keys to resize.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from estatekit import KEY_ID, SECRET, ForeignEstate
from servekit import Served, serve

PAYLOADS = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "payloads"
PAGERDUTY_OPENAPI = "pagerduty_events_v2_openapiv3.official.json"  # a schema, not an event
SOURCES = {
    "alertmanager": "alertmanager", "grafana": "grafana", "aws_cloudwatch": "cloudwatch",
    "aws_sns": "cloudwatch", "aws_guardduty": "guardduty", "pagerduty": "pagerduty",
}  # fmt: skip
ROUTES: dict[str, list[dict[str, Any]]] = {
    "web": [{"labels": {"job": "node"}}, {"labels": {"team": "blue"}}],
    "checkout": [{"resource": "arn:aws:cloudwatch:*:alarm:*"}],
    "orders-db": [{"labels": {"component": "mysql"}}],
    "resize": [{"labels": {"resource_type": "AccessKey"}}],
}
EXPECTED_SERVICE = {
    "alertmanager": "web", "grafana": "web", "cloudwatch": "checkout", "pagerduty": "orders-db",
    "guardduty": "resize",
}  # fmt: skip


def _env(url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1", "IC_AWS_MODE": "account", "IC_AWS_REGION": "us-east-1",
        # The fixtures are AWS's documentation examples, signed "EXAMPLE": signatures are
        # tested on envelopes signed for real (test_sns_signature.py).
        "IC_SNS_VERIFY_SIGNATURES": "false", "IC_SNS_CONFIRM": "false",
    }  # fmt: skip


def _estate_with_routes(tmp_path: Path, url: str) -> Path:
    out = tmp_path / "estate.yaml"
    done = subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", "estate", "discover",
         "--out", str(out), "--name", "shop"],
        env={**os.environ, **_env(url)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load(out.read_text(encoding="utf-8"))
    for name, routes in ROUTES.items():
        spec["services"][name]["routes"] = routes
    out.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return out


def _where_alerts_went(served: Served, key: str) -> dict[str, str]:
    """Fingerprint -> the incident it opened or joined, from the audit trail."""
    found: dict[str, str] = {}
    after = 0
    while True:
        page = served.get("/v1/audit", key, params={"after": after, "limit": 500}).json()
        for entry in page["items"]:
            if entry["kind"] in {"incident.opened", "alert.attached"}:
                found[entry["data"]["alert"]["fingerprint"]] = entry["incident_id"]
        if not page["items"]:
            return found
        after = page["items"][-1]["seq"]


def test_every_payload_lands_in_an_incident_on_the_service_its_route_names(
    tmp_path: Path, moto_url: str, foreign: ForeignEstate
) -> None:
    estate_file = _estate_with_routes(tmp_path, moto_url)
    firing: dict[str, str] = {}  # fingerprint -> source
    with serve(tmp_path, {**_env(moto_url), "IC_ESTATE_FILE": str(estate_file)}) as served:
        key = served.key()
        for path in sorted(PAYLOADS.glob("*.json")):
            if path.name == PAGERDUTY_OPENAPI:
                continue
            source = next(s for prefix, s in SOURCES.items() if path.name.startswith(prefix))
            answer = served.post(
                f"/v1/alerts/{source}", key, content=path.read_bytes(),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            assert answer.status_code == 202, (path.name, answer.text)
            body = answer.json()
            for fingerprint in body["fingerprints"][: body["firing"]]:
                firing[fingerprint] = source
        assert len(firing) >= 9  # every file but the SNS envelope of no alarm carries one

        deadline = time.monotonic() + 60
        went = _where_alerts_went(served, key)
        while set(firing) - set(went) and time.monotonic() < deadline:
            time.sleep(0.5)
            went = _where_alerts_went(served, key)
        assert not set(firing) - set(went), f"silently dropped: {set(firing) - set(went)}"

        for fingerprint, source in firing.items():
            incident = served.get(f"/v1/incidents/{went[fingerprint]}", key).json()
            assert EXPECTED_SERVICE[source] in incident["services"], (fingerprint, incident)
            assert incident["kind"] == "incident", incident  # routed: never triage
        listed = {i["id"] for i in served.get("/v1/incidents", key).json()["items"]}
        assert set(went.values()) <= listed
    print(json.dumps(went, indent=1))
