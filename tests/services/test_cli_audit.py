"""``incident-commander audit``: verifying the chain and reading the trail from the shell."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.audit import AuditRecord, AuditTrail
from services.cli import app
from services.settings import get_settings

runner = CliRunner()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it (commander errors go through main())."""
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.sqlite"
    with AuditTrail(path, clock=lambda: datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)) as trail:
        trail.append(
            [
                AuditRecord("commander", "incident.opened", "inc-1", {"service": "api"}),
                AuditRecord("security", "vote", "inc-1", {"approve": True}),
                AuditRecord("commander", "alert.unrouted", None, {"title": "disk full"}),
                AuditRecord("alice", "approval.granted", "inc-2", {"candidate": "rollback"}),
            ]
        )
    return path


@pytest.fixture
def configured(db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``IC_AUDIT_DB`` points at ``db``."""
    monkeypatch.setenv("IC_AUDIT_DB", str(db))
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def test_help_is_available() -> None:
    for args in (["audit"], ["audit", "verify"], ["audit", "show"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_verify_reports_a_good_chain_and_its_head(db: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", "--db", str(db)])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "audit trail ok: 4 entries"
    with AuditTrail(db) as trail:
        head = trail.after(3)[0]
    assert lines[1].startswith(f"latest: entry 4, sha256 {head.hash}")


def test_verify_uses_the_configured_file(configured: Path) -> None:
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit trail ok: 4 entries" in result.stdout


def test_verify_names_the_tampered_entry_and_exits_1(db: Path) -> None:
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET data = '{\"approve\":false}' WHERE seq = 2")

    result = runner.invoke(app, ["audit", "verify", "--db", str(db)])

    assert result.exit_code == 1
    assert result.stdout.strip() == "audit trail broken: entry 2: hash does not match its contents"


def test_a_missing_file_is_a_clear_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "audit.sqlite"
    for command in ("verify", "show"):
        result = _cli("audit", command, "--db", str(missing))
        assert result.returncode == 2, result.stderr
        assert f"{missing}: no audit trail there" in result.stderr
        assert "Traceback" not in result.stderr
    assert not missing.parent.exists()


def test_a_file_that_is_not_an_audit_trail_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "keys.sqlite"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE api_keys (key_id TEXT)")
    result = _cli("audit", "verify", "--db", str(other))
    assert result.returncode == 2
    assert "not an audit trail (tables api_keys)" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_prints_a_table_in_sequence_order(db: Path) -> None:
    result = runner.invoke(app, ["audit", "show", "--db", str(db)])

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["SEQ", "AT", "(UTC)", "ACTOR", "KIND", "INCIDENT", "DATA"]
    assert [row.split()[0] for row in rows] == ["1", "2", "3", "4"]
    assert rows[0].split() == [
        "1", "2026-03-01", "12:00:05", "commander", "incident.opened", "inc-1",
        '{"service":', '"api"}',
    ]  # fmt: skip
    assert rows[2].split()[5] == "-"  # no incident


def test_show_filters_pages_and_prints_json_lines(configured: Path) -> None:
    result = runner.invoke(app, ["audit", "show", "--incident", "inc-1", "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["seq"], r["kind"]) for r in records] == [(1, "incident.opened"), (2, "vote")]
    assert records[0]["at"] == "2026-03-01T12:00:05.000000+00:00"
    assert records[0]["data"] == {"service": "api"}
    assert records[1]["prev_hash"] == records[0]["hash"]

    page = runner.invoke(app, ["audit", "show", "--after", "1", "--limit", "2", "--json"])
    assert page.exit_code == 0, page.output
    assert [json.loads(line)["seq"] for line in page.stdout.splitlines()] == [2, 3]
    assert "the next page starts with --after 3" in page.stderr

    empty = runner.invoke(app, ["audit", "show", "--after", "4"])
    assert empty.exit_code == 0
    assert empty.stdout.strip() == "no audit entries"


def test_show_refuses_a_limit_below_one(db: Path) -> None:
    result = runner.invoke(app, ["audit", "show", "--db", str(db), "--limit", "0"])
    assert result.exit_code == 2
    assert "--limit" in result.output
