"""Which incidents a cluster worker adopts when it takes an estate over: every live one, and
the ended ones whose doing still shapes what the commander sees."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orchestrator.context import Clock
from orchestrator.correlation import NOISE_SUPPRESSION_STEPS
from orchestrator.evidence import HISTORY_STEPS
from orchestrator.summary import IncidentSummary
from orchestrator.worker import to_track
from services.pg.incidents import PgIncidentStore
from services.pg.pool import Pool

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = 200
CLOCK = Clock(start=START, step_s=60, step=NOW)


def ended(incident_id: str, status: str, steps_ago: int) -> IncidentSummary:
    at = CLOCK.at(NOW - steps_ago)
    return IncidentSummary(
        id=incident_id, status=status, severity="sev2", title=incident_id,
        services=("search",), opened_at=at - timedelta(minutes=5), updated_at=at, alerts=1,
        acknowledged_by=None, pending_approval=None, time_to_detect_s=None,
        time_to_resolve_s=None,
    )  # fmt: skip


def test_a_worker_adopts_live_incidents_and_those_that_ended_within_what_they_still_explain(
    pool: Pool,
) -> None:
    store = PgIncidentStore(pool, estate="run-1")
    summaries = [
        ended("live-open", "open", 500),
        ended("live-escalated", "escalated", 500),
        ended("noise-recent", "noise", NOISE_SUPPRESSION_STEPS - 1),
        ended("noise-old", "noise", NOISE_SUPPRESSION_STEPS + 1),
        # A resolved incident's scale-out or rollback, and the cause it fixed, explain what the
        # evidence window still shows; a noise incident that old explains nothing any more.
        ended("resolved-recent", "resolved", HISTORY_STEPS - 1),
        ended("resolved-old", "resolved", HISTORY_STEPS + 1),
        ended("closed-by-a-person", "closed", 1),
    ]
    for summary in summaries:
        store.put(summary)
    PgIncidentStore(pool, estate="run-0").put(replace(summaries[4], id="another-run"))

    tracked = to_track(store, CLOCK)

    assert set(tracked[:2]) == {"live-open", "live-escalated"}  # the live ones first
    assert sorted(tracked[2:]) == ["noise-recent", "resolved-recent"]
