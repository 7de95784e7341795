"""The scenario runner with the commander in the loop: approvals answered as --approve says,
and incident threads checkpointed in Postgres when configured."""

from __future__ import annotations

import psycopg
import pytest

from conftest import skip_or_fail
from orchestrator.runner import ApprovalAnswer, RunOptions, run_scenario
from services.aws.port import AwsPort
from services.scenario.loader import builtin_scenarios, load_scenario

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
PROTECTED = "payments-db-connection-exhaustion"


@pytest.mark.parametrize(
    ("answer", "executed", "passed"),
    [
        ("grant", ["reboot-database"], True),
        ("deny", ["escalate"], False),  # denied twice (reboot, then failover): a person paged
        ("never", [], False),
    ],
)
def test_a_protected_database_waits_for_a_person(
    aws: AwsPort, answer: ApprovalAnswer, executed: list[str], passed: bool
) -> None:
    loaded = load_scenario(builtin_scenarios()[PROTECTED])

    result = run_scenario(aws, loaded, RunOptions(approve=answer))

    assert result.approval_requested
    assert result.executed == executed
    assert result.passed is passed
    assert result.forbidden_executed == []
    if answer != "grant":
        assert not result.recovered
        assert "remediation.any_of: none of reboot-database, failover-database was executed" in (
            result.failed_expectations
        )


def test_incident_threads_can_live_in_postgres(aws: AwsPort) -> None:
    try:
        with psycopg.connect(POSTGRES, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL is not reachable at {POSTGRES}: {exc}")
    loaded = load_scenario(builtin_scenarios()["checkout-bad-deploy"])

    result = run_scenario(aws, loaded, RunOptions(postgres_url=POSTGRES))

    assert result.passed, result.failed_expectations
    with psycopg.connect(POSTGRES) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (result.incident_ids[0],)
        ).fetchone()
    assert stored is not None
    assert stored[0] > 0
