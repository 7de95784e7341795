"""The command line as a user drives it: listing, validating and running scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.errors import LastAdminKeyError
from services.gateway.auth.keys import ApiKeyStore
from services.scenario.loader import builtin_scenarios
from services.settings import get_settings

runner = CliRunner()

SMALL = """
version: 1
name: cli-small
seed: 3
duration: 8m
step: 60s
services:
  - name: api
    kind: ecs-service
    tier: critical
    capacity: 2
    baseline: {rps: 100, cpu: 30, memory: 40, latency_ms: 80, error_rate: 0.1}
events:
  - {at: 3m, kind: bad-deploy, target: api, params: {error_rate: 30}}
expect:
  incident: true
  remediation: {any_of: [rollback-deployment]}
"""

NOISE = """
version: 1
name: cli-noise
duration: 6m
services:
  - {name: api, kind: ecs-service}
events:
  - {at: 2m, kind: deploy, target: api}
expect: {incident: false}
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (errors go through main())."""
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_is_available_on_every_command() -> None:
    for args in ([], ["scenario"], ["scenario", "run"], ["scenario", "list"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_list_shows_every_builtin_scenario() -> None:
    result = runner.invoke(app, ["scenario", "list", "--json"])
    assert result.exit_code == 0
    names = [json.loads(line)["name"] for line in result.output.splitlines()]
    assert names == sorted(builtin_scenarios())
    assert len(names) >= 16


def test_validate_names_file_and_field_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("cpu: 30", "cpu: 300").replace("version: 1", "version: 1\nfoo: 1"))
    result = _cli("scenario", "validate", str(bad))
    assert result.returncode == 2
    assert f"{bad}: services[0].baseline.cpu" in result.stderr
    assert f"{bad}: foo: unknown top-level key" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_scenario_is_a_clear_error() -> None:
    result = _cli("scenario", "run", "no-such-scenario")
    assert result.returncode == 2
    assert "no-such-scenario: no such file, folder or built-in scenario" in result.stderr


def test_bad_approve_option_is_rejected(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scenario", "run", "--approve", "maybe", "x.yaml"])
    assert result.exit_code == 2
    assert "grant, deny or never" in result.output


def test_run_json_prints_the_spec_result_object_and_check_fails(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(SMALL)
    noise = tmp_path / "noise.yaml"
    noise.write_text(NOISE)

    result = _cli("scenario", "run", str(small), str(noise), "--json", "--check")

    assert result.returncode == 1, result.stderr
    results = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["scenario"] for r in results] == ["cli-small", "cli-noise"]
    spec_keys = {
        "scenario", "passed", "detected", "ttd_s", "incident_ids", "root_cause", "proposed",
        "executed", "forbidden_executed", "approval_requested", "recovered", "ttr_s",
        "downtime_cost_usd", "failed_expectations",
    }  # fmt: skip
    assert spec_keys <= set(results[0])
    faulty, quiet = results
    # No commander yet: the bad deploy is never detected, never rolled back, never recovers.
    assert faulty["passed"] is False
    assert faulty["recovered"] is False
    assert faulty["downtime_cost_usd"] > 0
    assert "incident: expected an incident, none was opened" in faulty["failed_expectations"]
    assert quiet["passed"] is True
    assert quiet["downtime_cost_usd"] == 0


@pytest.mark.parametrize("flag", ["--timeline"])
def test_timeline_records_the_fault_and_the_alarm(tmp_path: Path, flag: str) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(SMALL)
    result = _cli("scenario", "run", str(small), "--json", flag)
    assert result.returncode == 0, result.stderr
    timeline = json.loads(result.stdout)["timeline"]
    events = [entry["event"] for entry in timeline]
    assert any(e.startswith("bad-deploy starts on api") for e in events)
    assert any(e.startswith("alarm ") and e.endswith("-> ALARM") for e in events)


def test_bench_scenarios_measures_what_the_commander_saves(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SMALL.replace("duration: 8m", "duration: 20m").replace("at: 3m", "at: 8m"))
    result = _cli("bench", "scenarios", str(suite), "--json")
    assert result.returncode == 0, result.stderr
    *rows, totals = [json.loads(line) for line in result.stdout.splitlines()]
    [row] = rows
    assert row["scenario"] == "cli-small"
    assert row["baseline_downtime_usd"] > row["downtime_usd"]
    assert row["avoided_usd"] == row["baseline_downtime_usd"] - row["downtime_usd"]
    assert row["spend_usd"] > 0
    assert row["spend_avoided_usd"] == row["baseline_spend_usd"] - row["spend_usd"]
    assert totals["totals"]["scenarios"] == 1


def test_bench_rca_reports_accuracy_at_k(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    for service, level, shift, onset in (("db", 4, 6, 80), ("api", 90, 3, 81), ("cache", 2, 1, 0)):
        (metrics / service).mkdir(parents=True)
        rows = ["timestamp,value"]
        for i in range(120):
            wobble = 1 + 0.01 * ((i * 7919) % 13 - 6)  # deterministic noise
            value = level * (shift if i >= onset else 1) * wobble
            rows.append(f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00,{value}")
        (metrics / service / "latency.csv").write_text("\n".join(rows) + "\n")
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"time": "2026-01-01T01:20:00", "service": "db"}]))
    edges = tmp_path / "edges.json"
    edges.write_text(json.dumps([["api", "db"]]))

    result = runner.invoke(
        app,
        ["bench", "rca", "--metrics", str(metrics), "--labels", str(labels),
         "--edges", str(edges), "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    perfect = {"AS@1": 1.0, "AS@3": 1.0, "AS@5": 1.0}
    assert json.loads(result.output) == {
        "labels": 1, "diagnosis (deviation)": perfect, "rank_root_causes (live)": perfect,
        "z-score baseline": perfect, "by_day": {},
    }  # fmt: skip


def test_keys_are_created_once_listed_without_secrets_and_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "keys.sqlite"
    monkeypatch.setenv("IC_API_KEYS_DB", str(db))
    get_settings.cache_clear()
    try:
        created = runner.invoke(app, ["keys", "create", "ci-bot", "--role", "ingest"])
        assert created.exit_code == 0, created.output
        secret = created.output.split("api key (shown once, store it now): ")[1].strip()
        key_id = created.output.split("key id: ")[1].split()[0]
        with ApiKeyStore(db) as store:
            assert store.verify(secret).subject == "ci-bot"

        listed = runner.invoke(app, ["keys", "list", "--json"])
        assert secret not in listed.output
        [record] = [json.loads(line) for line in listed.output.splitlines()]
        assert record == {**record, "key_id": key_id, "roles": ["ingest"], "active": True}

        assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
        assert json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)["active"] is False
        assert runner.invoke(app, ["keys", "revoke", "nope"]).exit_code == 2
        bad = runner.invoke(app, ["keys", "create", "x", "--role", "root"])
        assert bad.exit_code == 2
        assert "unknown role(s) root" in bad.output
    finally:
        get_settings.cache_clear()


def test_the_cli_will_not_revoke_the_last_admin_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "keys.sqlite"
    monkeypatch.setenv("IC_API_KEYS_DB", str(db))
    get_settings.cache_clear()
    try:
        with ApiKeyStore(db) as store:
            admin, _ = store.create("admin", ["admin"])
        refused = runner.invoke(app, ["keys", "revoke", admin])
        assert isinstance(refused.exception, LastAdminKeyError)  # main() prints it, exit 2
        with ApiKeyStore(db) as store:
            assert store.list()[0].active
    finally:
        get_settings.cache_clear()
