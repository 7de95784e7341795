"""Detection: a causal, bounded scorer; incidents confirmed, graded and closed as documented."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agentkit
from agents import detection, scoring
from agents.detection import ANOMALOUS, anomaly_scores, assess, find_anomalies
from agents.model import Stance

AT = 40
"""Where the synthetic shifts start: well past the scorer's minimum history."""

values = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
directions = st.sampled_from([-1, 0, 1])


# -- the scorer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("warmup", [detection.WARMUP, 5], ids=["robust-score", "records"])
@settings(deadline=None)
@given(
    series=st.lists(values, min_size=1, max_size=60),
    direction=directions,
    data=st.data(),
)
def test_a_score_never_changes_when_later_points_do(
    warmup: int, series: list[float], direction: int, data: st.DataObject
) -> None:
    """Both paths of the scorer are causal: the robust score before the warm-up ends (every
    series here is shorter) and the records after it (a warm-up of 5 points)."""
    i = data.draw(st.integers(0, len(series) - 1), label="i")
    later = data.draw(
        st.lists(values | st.just(float("nan")), min_size=len(series) - i - 1),
        label="replacement for the points after i",
    )
    rewritten = series[: i + 1] + later

    before = anomaly_scores(series, direction=direction, warmup=warmup)[: i + 1]
    after = anomaly_scores(rewritten, direction=direction, warmup=warmup)[: i + 1]

    np.testing.assert_array_equal(before, after)


@settings(deadline=None)
@given(
    series=st.lists(
        values | st.sampled_from([float("nan"), float("inf"), -float("inf")]), max_size=45
    ),
    direction=directions,
)
def test_scores_lie_between_zero_and_one(series: list[float], direction: int) -> None:
    scores = anomaly_scores(series, direction=direction)

    assert len(scores) == len(series)
    assert np.all((scores >= 0.0) & (scores <= 1.0))


@pytest.mark.parametrize("seed", range(20))
def test_a_flat_noisy_series_scores_low_everywhere(seed: int) -> None:
    scores = anomaly_scores(agentkit.flat(120, noise=0.02, seed=seed))

    assert scores.max() < ANOMALOUS


def test_a_level_shift_scores_high_at_and_after_the_shift() -> None:
    scores = anomaly_scores(agentkit.shifted(AT, 2.0))

    assert scores[:AT].max() < ANOMALOUS
    assert scores[AT : AT + 10].min() > 0.9


def test_a_missing_point_is_not_an_anomaly_and_does_not_hide_a_later_shift() -> None:
    series = agentkit.shifted(AT, 2.0)
    series[AT - 10] = float("nan")

    scores = anomaly_scores(series)

    assert scores[AT - 10] == 0.0
    assert scores[:AT].max() < ANOMALOUS
    assert scores[AT] > 0.9


@pytest.mark.parametrize(
    ("direction", "ignored", "seen"),
    [(1, 0.5, 2.0), (-1, 2.0, 0.5)],
    ids=["rises-only-ignores-a-drop", "falls-only-ignores-a-rise"],
)
def test_a_direction_scores_only_moves_that_way(
    direction: int, ignored: float, seen: float
) -> None:
    ignored_move = agentkit.shifted(AT, ignored)
    seen_move = agentkit.shifted(AT, seen)

    assert anomaly_scores(ignored_move, direction=0)[AT] > 0.9  # the move is plain to see ...
    assert anomaly_scores(ignored_move, direction=direction)[AT:].max() < 0.05  # ... but ignored
    assert anomaly_scores(seen_move, direction=direction)[AT] > 0.9


# -- the records (series longer than the warm-up) ----------------------------------------------

LONG = 600
STEP = 400
"""A step well past the warm-up, with enough history for the records to know the series."""


@settings(deadline=None)
@given(
    series=st.lists(
        values | st.sampled_from([float("nan"), float("inf"), -float("inf")]), max_size=60
    ),
    direction=directions,
)
def test_record_scores_lie_between_zero_and_one(series: list[float], direction: int) -> None:
    scores = anomaly_scores(series, direction=direction, warmup=5)

    assert len(scores) == len(series)
    assert np.all((scores >= 0.0) & (scores <= 1.0))


def test_a_long_series_is_scored_causally() -> None:
    series = agentkit.shifted(STEP, 2.0, n=LONG)
    rewritten = series[:STEP] + agentkit.flat(LONG - STEP, level=900.0, noise=0.3, seed=7)

    np.testing.assert_array_equal(anomaly_scores(series)[:STEP], anomaly_scores(rewritten)[:STEP])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("noise", [0.01, 0.1])
def test_a_long_flat_noisy_series_raises_no_alert(seed: int, noise: float) -> None:
    scores = anomaly_scores(agentkit.flat(1000, noise=noise, seed=seed))

    assert scores[detection.WARMUP :].max() < ANOMALOUS


def test_a_step_on_a_flat_series_scores_highest_at_its_onset_and_never_saturates() -> None:
    series = [5.0] * STEP + [10.0] * (LONG - STEP)

    scores = anomaly_scores(series)

    assert scores[STEP] >= ANOMALOUS
    assert scores[STEP] < 1.0  # no saturation: a higher threshold still separates scores
    assert np.all(np.delete(scores, STEP) < scores[STEP])  # the onset alone is the top


def test_after_an_alert_the_next_points_are_quiet_even_through_a_second_step() -> None:
    second = STEP + scoring.SUPPRESS // 2
    series = np.asarray(agentkit.shifted(STEP, 2.0, n=LONG, seed=3))
    series[second:] *= 2.0

    scores = anomaly_scores(series)

    assert scores[STEP] >= ANOMALOUS
    assert np.all(scores[STEP + 1 : STEP + 1 + scoring.SUPPRESS] == 0.0)


def test_a_missing_point_in_a_long_series_scores_zero_and_hides_nothing() -> None:
    series = agentkit.shifted(STEP, 2.0, n=LONG)
    series[STEP - 10] = float("nan")

    scores = anomaly_scores(series)

    assert scores[STEP - 10] == 0.0
    assert scores[:STEP].max() < ANOMALOUS
    assert scores[STEP] >= ANOMALOUS


@pytest.mark.parametrize(("direction", "ignored", "seen"), [(1, 0.5, 2.0), (-1, 2.0, 0.5)])
def test_the_records_score_only_moves_in_their_direction(
    direction: int, ignored: float, seen: float
) -> None:
    ignored_move = agentkit.shifted(STEP, ignored, n=LONG)
    seen_move = agentkit.shifted(STEP, seen, n=LONG)

    assert anomaly_scores(ignored_move, direction=0)[STEP] >= ANOMALOUS
    assert anomaly_scores(ignored_move, direction=direction)[STEP:].max() < ANOMALOUS
    assert anomaly_scores(seen_move, direction=direction)[STEP] >= ANOMALOUS


# -- find_anomalies -----------------------------------------------------------------------------


@pytest.mark.parametrize(("shifted_points", "found"), [(2, False), (3, True), (8, True)])
def test_an_anomaly_needs_persistence_consecutive_anomalous_tail_points(
    shifted_points: int, found: bool
) -> None:
    series = {"checkout": {"latency": agentkit.shifted(AT, 2.0, n=AT + shifted_points)}}

    anomalies = find_anomalies(series, persistence=3)

    assert bool(anomalies) is found


@pytest.mark.parametrize("shifted_points", [3, 8])
def test_an_anomaly_reports_where_the_shift_began_and_the_levels_either_side(
    shifted_points: int,
) -> None:
    series = {"checkout": {"latency": agentkit.shifted(AT, 2.0, n=AT + shifted_points)}}

    [anomaly] = find_anomalies(series, persistence=3)

    assert (anomaly.service, anomaly.metric, anomaly.onset_index) == ("checkout", "latency", AT)
    assert anomaly.baseline == pytest.approx(100.0, rel=0.02)
    assert anomaly.latest == pytest.approx(200.0, rel=0.05)


def test_a_spike_that_is_over_by_the_tail_is_not_an_anomaly() -> None:
    series = {"checkout": {"latency": agentkit.spiked(AT, 5.0, n=AT + 6, width=3)}}

    assert find_anomalies(series, persistence=3) == []


@pytest.mark.parametrize(
    ("metric", "factor", "found"),
    [
        ("latency", 2.0, True),
        ("latency", 0.5, False),
        ("free_storage", 0.5, True),
        ("free_storage", 2.0, False),
    ],
    ids=["latency-up", "latency-down", "free-storage-down", "free-storage-up"],
)
def test_only_a_move_in_the_metrics_bad_direction_is_an_anomaly(
    metric: str, factor: float, found: bool
) -> None:
    series = {"orders-db": {metric: agentkit.shifted(AT, factor, n=AT + 5)}}

    assert bool(find_anomalies(series, persistence=3)) is found


@pytest.mark.parametrize("noise", [0.05, 0.1, 0.2])
def test_flat_noise_is_never_reported_however_noisy(noise: float) -> None:
    series = {
        f"svc-{seed}": {"latency": agentkit.flat(n, noise=noise, seed=seed)}
        for seed in range(40)
        for n in (10, 35, 60)
    }

    assert find_anomalies(series, persistence=3) == []


def test_a_count_moving_by_one_unit_is_noise_and_a_real_rise_is_not() -> None:
    # ConcurrentExecutions of a quiet function: whole numbers, 4 or 5 with no spread between.
    quiet = [4.0, 4.0, 5.0, 4.0, 4.0, 4.0, 5.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    series = {"search": {"concurrency": [*quiet, 5.0, 5.0, 5.0, 5.0]}}
    risen = {"search": {"concurrency": [*quiet, 14.0, 15.0, 15.0, 16.0]}}

    assert find_anomalies(series, persistence=3) == []
    assert [a.metric for a in find_anomalies(risen, persistence=3)] == ["concurrency"]


def test_an_error_rate_near_zero_must_rise_by_a_point_to_be_harm() -> None:
    # checkout's first minutes: 0.2 % of requests failing, then 0.3-0.35 %. A z-score over a few
    # quiet points calls that a shift; it is a handful of requests, and verification would call
    # it recovered. A bad deploy's 0.2 % to 3 % is harm.
    quiet = [0.199, 0.214, 0.288, 0.201, 0.206, 0.21, 0.2, 0.205]
    blip = {"checkout": {"errors": [*quiet, 0.305, 0.326, 0.345]}}
    broken = {"checkout": {"errors": [*quiet, 2.9, 3.1, 3.0]}}

    assert find_anomalies(blip, persistence=2) == []
    assert [a.metric for a in find_anomalies(broken, persistence=2)] == ["errors"]


def test_memory_leaking_inside_a_noisy_band_is_found_before_it_runs_out() -> None:
    # Two points a step against noise of +-3.5: no three points running stand out from the
    # ones before them, and the first out-of-memory kill is 25 steps away; the trend shows.
    leak = agentkit.leaking(AT, 2.0, n=AT + 10, seed=3)
    flat = agentkit.flat(AT + 10, level=50.0, noise=0.07, seed=3)
    scores = [detection.score_at(np.asarray(leak), i, direction=1) for i in range(len(leak))]

    [found] = find_anomalies({"reports": {"memory": leak}}, persistence=3)

    assert (found.metric, found.latest) == ("memory", leak[-1])
    assert AT - 3 <= found.onset_index <= AT + 2
    assert not any(min(scores[i : i + 3]) >= ANOMALOUS for i in range(len(scores) - 2))
    assert find_anomalies({"reports": {"memory": flat}}, persistence=3) == []


def test_a_slow_drift_far_from_exhaustion_is_not_an_anomaly() -> None:
    # Memory creeping up a tenth of a point a step would take hours to run out.
    drift = [50.0 + 0.1 * i + 0.02 * (i % 3) for i in range(AT + 9)]
    disk = [500.0 - 0.1 * i for i in range(AT + 9)]  # free storage, GB

    assert find_anomalies({"api": {"memory": drift}}, persistence=3) == []
    assert find_anomalies({"db": {"free_storage": disk}}, persistence=3) == []


def test_free_storage_falling_toward_zero_is_found_as_it_falls() -> None:
    falling = [*agentkit.flat(AT, level=40.0, noise=0.03, seed=2)] + [
        40.0 - 3.5 * i + (1.0 if i % 2 else -1.0) for i in range(1, 10)
    ]

    assert [a.metric for a in find_anomalies({"db": {"free_storage": falling}}, 3)] == [
        "free_storage"
    ]


# -- assess -------------------------------------------------------------------------------------


def test_a_transient_spike_is_closed_as_noise() -> None:
    series = {"checkout": {"latency": agentkit.spiked(AT, 5.0, n=AT + 6, width=2)}}

    got = assess(series, tiers={"checkout": "critical"})

    assert not got.confirmed
    assert got.noise_reason is not None
    assert "transient" in got.noise_reason
    assert got.blast_radius == 0


def test_a_flapping_alarm_on_flat_metrics_is_closed_as_flapping() -> None:
    series = {"checkout": {"latency": agentkit.flat(), "errors": agentkit.flat(level=1.0)}}

    got = assess(series, tiers={"checkout": "critical"}, alarm_flips=3)

    assert not got.confirmed
    assert got.noise_reason is not None
    assert "flap" in got.noise_reason


def test_two_alarm_flips_are_not_called_flapping() -> None:
    got = assess({"checkout": {"latency": agentkit.flat()}}, tiers={}, alarm_flips=2)

    assert not got.confirmed
    assert got.noise_reason is not None
    assert "flap" not in got.noise_reason


def test_a_noise_verdict_names_the_alerted_services_metrics_and_where_they_stand() -> None:
    series = {
        "checkout": {
            "requests": agentkit.flat(level=900.0),
            "latency": agentkit.flat(level=0.12),
            "errors": agentkit.flat(level=0.4, seed=2),
            "cpu": agentkit.flat(level=40.0),
        },
        "frontend": {"latency": agentkit.spiked(AT, 5.0, n=AT + 6, width=2)},
    }

    got = assess(series, tiers={}, focus={"checkout"})

    assert got.noise_reason == (
        "checkout errors 0.4 % and latency 120 ms within their normal band; "
        "no persistent anomaly: a transient"
    )


def test_a_noise_verdict_says_which_metric_jumped_without_persisting() -> None:
    spike = agentkit.spiked(AT, 5.0, n=AT + 2, width=2, level=0.1, noise=0.0)  # ends on it
    series = {"orders-db": {"latency": spike, "cpu": agentkit.flat(AT + 2, level=35.0)}}

    got = detection.noise_reason(
        series, {"orders-db", "not-measured"}, persistence=3, alarm_flips=4
    )

    assert got == (
        "alarm flapped 4 times; orders-db cpu 35 % within its normal band; "
        "orders-db latency 500 ms out of band for fewer than 3 points running; "
        "no persistent anomaly"
    )


def test_a_function_latency_is_read_in_its_own_unit() -> None:
    series = {"resize": {"latency": agentkit.flat(level=210.0, noise=0.0)}}

    got = detection.noise_reason(
        series, ["resize"], persistence=3, ms_per_latency_unit={"resize": 1.0}
    )

    assert got.startswith("resize latency 210 ms within its normal band")


def test_a_persistent_shift_is_confirmed() -> None:
    series = {
        "checkout": {"latency": agentkit.shifted(AT, 3.0, n=AT + 5)},
        "search": {"latency": agentkit.flat(AT + 5, seed=2)},
    }

    got = assess(series, tiers={"checkout": "important"})

    assert got.confirmed
    assert got.noise_reason is None
    assert [(a.service, a.metric) for a in got.anomalies] == [("checkout", "latency")]
    assert got.blast_radius == 1


def test_a_flapping_alarm_on_a_real_shift_is_still_confirmed() -> None:
    series = {"checkout": {"latency": agentkit.shifted(AT, 3.0, n=AT + 5)}}

    assert assess(series, tiers={}, alarm_flips=5).confirmed


def test_blast_radius_counts_the_services_with_an_anomaly() -> None:
    series = {
        "web": {"latency": agentkit.shifted(AT, 2.0, n=AT + 5, seed=1)},
        "api": {
            "latency": agentkit.shifted(AT, 2.0, n=AT + 5, seed=2),
            "errors": agentkit.shifted(AT, 9.0, n=AT + 5, level=1.0, seed=3),
        },
        "search": {"latency": agentkit.flat(AT + 5, seed=4)},
    }

    assert assess(series, tiers={}).blast_radius == 2


@pytest.mark.parametrize(
    ("metric", "tier", "severity"),
    [
        ("errors", "critical", "sev1"),
        ("latency", "critical", "sev1"),
        ("errors", "supporting", "sev2"),
        ("cpu", "critical", "sev2"),
        ("cpu", "supporting", "sev3"),
        ("memory", "important", "sev3"),
    ],
)
def test_severity_follows_the_metric_and_the_services_tier(
    metric: str, tier: str, severity: str
) -> None:
    series = {"checkout": {metric: agentkit.shifted(AT, 3.0, n=AT + 5, level=40.0)}}

    got = assess(series, tiers={"checkout": tier})

    assert got.confirmed
    assert got.severity == severity


def test_a_security_finding_is_confirmed_even_with_flat_metrics() -> None:
    series = {"ci-deployer": {"requests": agentkit.flat()}}

    got = assess(series, tiers={"ci-deployer": "supporting"}, security_finding=True)

    assert got.confirmed
    assert got.noise_reason is None
    assert got.severity == "sev1"
    assert got.blast_radius == 1


# -- vote_on ------------------------------------------------------------------------------------


@pytest.fixture
def checkout_latency_up() -> detection.Assessment:
    series = {
        "checkout": {"latency": agentkit.shifted(AT, 3.0, n=AT + 5)},
        "search": {"latency": agentkit.flat(AT + 5, seed=2)},
    }
    return assess(series, tiers={"checkout": "critical"})


def test_a_candidate_on_the_anomalous_service_is_approved(
    checkout_latency_up: detection.Assessment,
) -> None:
    candidate = agentkit.candidate("rollback-deployment", "checkout")

    got = detection.vote_on(candidate, checkout_latency_up)

    assert got["stance"] == Stance.APPROVE
    assert got["candidate"] == candidate["id"]
    assert got["confidence"] > 0.9
    assert "latency" in got["rationale"]
    assert not got["veto"]


def test_a_candidate_on_an_unaffected_service_gets_an_abstention(
    checkout_latency_up: detection.Assessment,
) -> None:
    got = detection.vote_on(agentkit.candidate("restart-service", "search"), checkout_latency_up)

    assert got["stance"] == Stance.ABSTAIN
    assert got["confidence"] == 0.0


def test_containment_of_a_security_finding_is_approved_without_a_metric_anomaly() -> None:
    quiet = assess({"ci-deployer": {"requests": agentkit.flat()}}, tiers={}, security_finding=True)
    candidate = agentkit.candidate(
        "deactivate-access-key", "ci-deployer", addresses="credential-compromise"
    )

    assert detection.vote_on(candidate, quiet)["stance"] == Stance.APPROVE


def test_a_metric_past_its_slo_is_anomalous_even_when_it_has_always_been_bad() -> None:
    # Errors at 12 % for the whole window: no robust score stands out, the SLO says it is bad.
    always_bad = {"checkout": {"errors": [12.0 + 0.1 * (i % 3) for i in range(40)]}}
    assert detection.find_anomalies(always_bad, persistence=3) == []
    [breach] = detection.find_anomalies(
        always_bad, persistence=3, slos={"checkout": {"errors": 5.0}}
    )
    assert (breach.service, breach.metric, breach.onset_index) == ("checkout", "errors", 0)
    assert breach.score == 1.0


def test_an_slo_breach_must_last_persistence_points_and_starts_where_it_began() -> None:
    latency = [0.2] * 30 + [0.9, 0.95, 0.2, 0.9, 0.92, 0.94]
    slos = {"api": {"latency": 0.5}}
    [breach] = detection.find_anomalies({"api": {"latency": latency}}, persistence=3, slos=slos)
    assert breach.onset_index == 33  # the last run past 0.5, not the blip before it
    assert breach.baseline == pytest.approx(0.2)
    brief = {"api": {"latency": [*latency[:-1], 0.3]}}
    assert all(
        a.metric != "latency" or a.score < 1.0
        for a in detection.find_anomalies(brief, persistence=3, slos=slos)
    )


def test_demand_alone_is_not_an_incident() -> None:
    """More requests, served with CPU, latency and errors in their bands: demand, not harm."""
    series = {
        "edge": {
            "requests": agentkit.shifted(AT, 3.0, n=AT + 6),
            "latency": agentkit.flat(n=AT + 6),
            "cpu": agentkit.flat(n=AT + 6),
        }
    }

    got = assess(series, tiers={"edge": "critical"})

    assert not got.confirmed
    assert got.noise_reason == (
        "only demand rose (edge requests): every other metric within its band"
    )


def test_demand_with_harm_is_an_incident() -> None:
    series = {
        "edge": {
            "requests": agentkit.shifted(AT, 3.0, n=AT + 6),
            "latency": agentkit.shifted(AT, 2.0, n=AT + 6),
        }
    }

    assert assess(series, tiers={"edge": "critical"}).confirmed


def test_capacity_the_commander_changed_is_not_an_anomaly() -> None:
    series = {"edge": {"capacity": agentkit.shifted(AT, 3.0, n=AT + 6)}}

    assert assess(series, tiers={"edge": "critical"}).confirmed
    assert not assess(series, tiers={"edge": "critical"}, ignore={("edge", "capacity")}).confirmed
