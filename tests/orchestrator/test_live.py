"""The live commander: alerts queued by other threads are taken in order, before the clock
moves; a full queue refuses a delivery whole; an estate it cannot build is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.config import Config

from orchestrator.context import CommanderPolicy
from orchestrator.intake import Signal
from orchestrator.live import open_live
from services.aws.port import AwsPort
from services.errors import ConfigurationError, OverloadedError
from services.scenario.loader import load_scenario, resolve_scenarios
from services.settings import AwsMode

SCENARIO = load_scenario(resolve_scenarios(["checkout-bad-deploy"])[0])


def _signal(fingerprint: str, service: str = "checkout") -> Signal:
    return Signal(
        fingerprint=fingerprint, source="generic", firing=True, title=fingerprint, service=service
    )


def test_signals_are_taken_at_the_step_they_arrived_and_a_full_queue_refuses(
    tmp_path: Path, aws: AwsPort
) -> None:
    with open_live(
        aws, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None, metrics=None,
        speed=1e-6, approval_ttl_s=900, max_queued=2,
    ) as live:  # fmt: skip
        step = live.advance(0)
        live.submit([_signal("generic:a"), _signal("generic:b")])
        with pytest.raises(OverloadedError):
            live.submit([_signal("generic:c")])  # two queued already: refused whole
        assert live.health().queued == 2
        assert live.advance(1) == step + 1
        assert live.health().queued == 0
        taken = {
            fingerprint: incident.opened_step
            for incident in live.commander.incidents.values()
            for fingerprint in incident.fingerprints
            if fingerprint.startswith("generic:")
        }
        # Both taken before the clock moved (on a healthy estate each closes as noise).
        assert taken == {"generic:a": step, "generic:b": step}
        live.submit([_signal("generic:x", service="no-such-service")])
        live.call(lambda commander: None)  # drains first
        assert live.unrouted == 1
        assert live.health().running


def test_an_account_estate_is_refused_with_what_is_missing(tmp_path: Path) -> None:
    account = AwsPort(mode=AwsMode.ACCOUNT, region="us-east-1", config=Config())
    with pytest.raises(ConfigurationError, match="not built yet"), open_live(
        account, SCENARIO, state_dir=tmp_path, policy=CommanderPolicy(), trail=None,
        metrics=None, speed=1.0, approval_ttl_s=900,
    ):  # fmt: skip
        pass
