"""The clock of a real estate: whole periods of wall time since the epoch, the last complete
one, so every process agrees on the step and a restart waits for the same instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.watch import EPOCH, WallClock


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_step_is_the_last_complete_period_since_the_epoch() -> None:
    now = _at("2026-12-02T10:00:07")
    clock = WallClock(5, now=lambda: now)
    step = clock.step().index
    # 10:00:05-10:00:10 is still running: the step is the period that ended at 10:00:05.
    assert clock.clock().at(step) == _at("2026-12-02T10:00:00")
    assert clock.clock().at(step + 1) == _at("2026-12-02T10:00:05")
    assert clock.seconds_to_next() == pytest.approx(3.0)
    assert not clock.done


def test_two_processes_and_a_restart_agree_on_the_step() -> None:
    now = _at("2026-12-02T10:00:59")
    first = WallClock(60, now=lambda: now)
    later = WallClock(60, now=lambda: now + timedelta(seconds=0.5))
    assert first.step().index == later.step().index
    assert first.clock().start == later.clock().start == EPOCH


def test_a_period_under_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one second"):
        WallClock(0)
