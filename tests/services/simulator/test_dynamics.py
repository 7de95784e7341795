"""The pure behaviour model: queueing, overload, SLO breaches, dependencies and capacity.

No AWS here: ``dynamics.sample`` is a function of a service's profile, the conditions acting on it
and its dependencies' samples, so each effect the spec lists is checked on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scenario.model import Service
from services.simulator.dynamics import (
    DB_CALLS_PER_REQUEST,
    ERROR_BAND_POINTS,
    LATENCY_BAND,
    Conditions,
    Profile,
    Sample,
    latency_factor_at,
    overload_errors_at,
    sample,
)

BUSY = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)


def profile(kind: str, capacity: int | None = None, **baseline: Any) -> Profile:
    return Profile.of(
        Service(name=kind.replace("-", ""), kind=kind, capacity=capacity, baseline=baseline)
    )


WEB = profile("ecs-service", capacity=2, rps=100, cpu=35, latency_ms=100, error_rate=0.1)
DB = profile("rds", latency_ms=5, connections=50, max_connections=200, free_storage_gib=50)
API = profile("ecs-service", capacity=2, rps=100, cpu=35, latency_ms=40, error_rate=0.1)


def healthy(p: Profile) -> Sample:
    return sample(p, Conditions(capacity=p.capacity), [])


# -- queueing and overload ------------------------------------------------------------------------


@given(BUSY, BUSY)
def test_latency_factor_never_falls_as_utilisation_rises(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert latency_factor_at(low) <= latency_factor_at(high)


@given(BUSY, BUSY)
def test_overload_errors_never_fall_as_utilisation_rises(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert overload_errors_at(low) <= overload_errors_at(high)


@pytest.mark.parametrize("utilisation", [0.0, 0.3, 0.5, 0.7])
def test_latency_is_flat_up_to_70_percent_busy(utilisation: float) -> None:
    assert latency_factor_at(utilisation) == 1.0


def test_latency_rises_past_70_percent_reaching_three_times_at_full_and_is_capped() -> None:
    assert 1.0 < latency_factor_at(0.8) < latency_factor_at(0.9) < latency_factor_at(1.0)
    assert latency_factor_at(1.0) == pytest.approx(3.0)
    assert latency_factor_at(1.0001) == pytest.approx(3.0, abs=0.01), "no jump at 100 %"
    assert latency_factor_at(1.5) > 3.0
    assert latency_factor_at(100.0) == 20.0


@pytest.mark.parametrize("utilisation", [0.0, 0.7, 0.9, 0.95])
def test_no_requests_fail_from_overload_up_to_95_percent_busy(utilisation: float) -> None:
    assert overload_errors_at(utilisation) == 0.0


def test_overload_fails_requests_past_95_percent_up_to_a_cap() -> None:
    assert 0.0 < overload_errors_at(0.96) < overload_errors_at(1.2) < overload_errors_at(1.5)
    assert overload_errors_at(100.0) == 80.0


# -- SLO breaches ---------------------------------------------------------------------------------


def _at(latency_ms: float, error_rate: float) -> Sample:
    return Sample(
        rps=100, cpu=35, memory=40, latency_ms=latency_ms, error_rate=error_rate, utilisation=0.35
    )


def test_a_service_at_its_baseline_breaches_nothing() -> None:
    assert healthy(WEB).breaches(WEB) == []
    assert healthy(DB).breaches(DB) == []


@pytest.mark.parametrize(
    ("latency_ms", "error_rate", "breached"),
    [
        (100 * LATENCY_BAND, 0.1 + ERROR_BAND_POINTS, []),  # on the edge is still in band
        (100 * LATENCY_BAND + 1, 0.1, ["latency"]),
        (100, 0.1 + ERROR_BAND_POINTS + 0.01, ["errors"]),
        (400, 30.0, ["latency", "errors"]),
    ],
)
def test_breaches_name_the_slo_metrics_outside_their_band(
    latency_ms: float, error_rate: float, breached: list[str]
) -> None:
    assert _at(latency_ms, error_rate).breaches(WEB) == breached


# -- capacity -------------------------------------------------------------------------------------


def test_more_capacity_lowers_cpu_per_task_and_relieves_overload() -> None:
    two, four, eight = (
        sample(WEB, Conditions(capacity=c, demand_factor=3.5), []) for c in (2, 4, 8)
    )

    assert two.cpu == 100.0
    assert two.error_rate > 10, "at 122 % of capacity requests fail"
    assert four.cpu == pytest.approx(35 * 3.5 / 2)
    assert eight.cpu == pytest.approx(four.cpu / 2)
    assert four.latency_ms == eight.latency_ms == WEB.latency_ms
    assert four.error_rate == eight.error_rate == WEB.error_rate


def test_load_above_capacity_raises_cpu_then_latency_then_errors() -> None:
    steps = [sample(WEB, Conditions(capacity=2, demand_factor=f), []) for f in (1, 2.2, 2.75, 4)]

    assert [s.cpu for s in steps][:3] == [35, pytest.approx(77), pytest.approx(96.25)]
    assert steps[0].latency_ms == steps[0].latency_ms < steps[1].latency_ms < steps[2].latency_ms
    assert steps[1].error_rate == WEB.error_rate, "77 % busy: slower, no failures yet"
    assert WEB.error_rate < steps[2].error_rate < steps[3].error_rate


def test_a_function_throttles_when_concurrency_exceeds_its_reserved_capacity() -> None:
    fn = profile("lambda", capacity=10, rps=50, latency_ms=200, error_rate=0.1)
    calm = sample(fn, Conditions(capacity=10), [])  # 50 rps x 0.2 s = 10 concurrent
    spike = sample(fn, Conditions(capacity=10, demand_factor=4), [])
    more = sample(fn, Conditions(capacity=40, demand_factor=4), [])

    assert calm.throttle_rate == 0.0
    assert calm.concurrency == 10
    assert spike.throttle_rate == pytest.approx(0.75), "40 wanted, 10 allowed"
    assert spike.concurrency == 10
    assert spike.error_rate == pytest.approx(0.1 + 75), "callers see throttles as failures"
    assert more.throttle_rate == 0.0
    assert more.error_rate == pytest.approx(0.1)


# -- dependencies ---------------------------------------------------------------------------------


def test_a_slow_database_slows_its_caller_ten_calls_over() -> None:
    slow_db = sample(DB, Conditions(capacity=1, latency_factor=5), [])
    caller = sample(WEB, Conditions(capacity=2), [(DB, slow_db)])

    assert slow_db.latency_ms == 25
    assert caller.latency_ms == pytest.approx(100 + DB_CALLS_PER_REQUEST * 20)
    assert caller.breaches(WEB) == ["latency", "errors"], "five times slower: callers time out"


def test_a_slow_service_dependency_adds_its_extra_latency_once() -> None:
    slow_api = sample(API, Conditions(capacity=2, latency_factor=2), [])
    caller = sample(WEB, Conditions(capacity=2), [(API, slow_api)])

    assert caller.latency_ms == pytest.approx(100 + 40)
    assert caller.error_rate == WEB.error_rate, "twice as slow does not time out"


def test_a_healthy_dependency_adds_nothing() -> None:
    assert sample(WEB, Conditions(capacity=2), [(DB, healthy(DB))]) == healthy(WEB)


def test_a_failing_dependency_fails_a_share_of_its_callers_requests() -> None:
    exhausted = sample(DB, Conditions(capacity=1, connections=200), [])
    caller = sample(WEB, Conditions(capacity=2), [(DB, exhausted)])

    assert exhausted.connections == 200
    assert exhausted.error_rate == pytest.approx(35), "refused connections"
    assert caller.error_rate == pytest.approx(0.1 + 0.9 * 35)


def test_a_full_database_fails_writes() -> None:
    full = sample(DB, Conditions(capacity=1, free_storage_gib=0.0), [])
    almost = sample(DB, Conditions(capacity=1, free_storage_gib=0.5), [])

    assert full.free_storage_gib == 0.0
    assert full.error_rate == pytest.approx(30)
    assert almost.error_rate == DB.error_rate


def test_leaked_memory_adds_to_the_baseline_up_to_100_percent() -> None:
    assert sample(WEB, Conditions(capacity=2, leaked_memory=30), []).memory == 70
    assert sample(WEB, Conditions(capacity=2, leaked_memory=90), []).memory == 100


def test_profiles_fill_in_kind_defaults_and_leave_room_to_scale() -> None:
    assert (DB.max_connections, DB.connections, DB.capacity) == (200, 50, 1)
    assert WEB.max_capacity == 6, "three times capacity or four more, whichever is more"
    assert profile("ecs-service", capacity=10).max_capacity == 30
    fn = profile("lambda")
    assert (fn.capacity, fn.rps, fn.latency_ms) == (100, 50.0, 200.0)
