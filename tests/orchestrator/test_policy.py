"""Commander policy from settings: consensus weights and thresholds, budget, change freezes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from orchestrator.context import CommanderPolicy
from orchestrator.runner import RunOptions, run_scenario
from services.aws.port import AwsPort
from services.scenario.loader import builtin_scenarios, load_scenario
from services.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _freeze_now() -> CommanderPolicy:
    now = datetime.now(UTC)
    window = f"{(now - timedelta(hours=3)).isoformat()}/{(now + timedelta(hours=1)).isoformat()}"
    return CommanderPolicy.from_settings(_settings(change_freeze=[window]))


def test_a_change_freeze_blocks_a_rollback_but_not_containment(aws: AwsPort) -> None:
    policy = _freeze_now()

    deploy = run_scenario(
        aws, load_scenario(builtin_scenarios()["checkout-bad-deploy"]), RunOptions(policy=policy)
    )
    key = run_scenario(
        aws, load_scenario(builtin_scenarios()["deploy-key-compromise"]), RunOptions(policy=policy)
    )

    assert deploy.detected
    assert deploy.executed == ["escalate"]  # nothing changed in AWS; a person is paged
    assert any("vetoed" in e["event"] for e in deploy.timeline)
    assert key.executed == ["deactivate-access-key"]


def test_weights_and_thresholds_come_from_settings() -> None:
    settings = _settings(
        consensus_weights={"security": 3.0},
        consensus_auto_threshold=0.8,
        consensus_approval_threshold=0.3,
        consensus_quorum=4,
        max_rounds=2,
        monthly_budget_usd=1234,
    )
    policy = CommanderPolicy.from_settings(settings)

    assert policy.consensus.weights == {"security": 3.0}
    assert (policy.consensus.auto_threshold, policy.consensus.approval_threshold) == (0.8, 0.3)
    assert policy.consensus.quorum == 4
    assert policy.max_rounds == 2
    assert policy.budget.monthly_usd == 1234


def test_weights_parse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IC_CONSENSUS_WEIGHTS", '{"security": 2, "finops": 0.5}')
    assert _settings().consensus_weights == {"security": 2, "finops": 0.5}


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"consensus_weights": {"oracle": 1.0}}, "unknown agents"),
        ({"consensus_auto_threshold": 0.1, "consensus_approval_threshold": 0.4}, "cannot exceed"),
        ({"change_freeze": ["2026-12-20T00:00:00Z"]}, "start/end"),
        ({"change_freeze": ["2026-12-20T00:00:00/2026-12-21T00:00:00"]}, "time zones"),
        ({"change_freeze": ["2026-12-21T00:00:00Z/2026-12-20T00:00:00Z"]}, "start before end"),
        ({"change_freeze": ["soon/later"]}, "change freeze"),
    ],
)
def test_incoherent_policy_settings_are_refused(values: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        _settings(**values)


def test_a_freeze_applies_only_inside_its_window() -> None:
    policy = _freeze_now()
    assert policy.security_at(datetime.now(UTC)).change_freeze
    assert not policy.security_at(datetime.now(UTC) + timedelta(days=1)).change_freeze
