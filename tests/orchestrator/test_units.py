"""Chart units and limits: what a person reading a metric's chart needs beside its values."""

from __future__ import annotations

from orchestrator.runner import catalogue_of
from orchestrator.units import Limit, limit_of, unit_of
from services.aws.resources import ServiceProfile
from services.scenario.loader import builtin_scenarios, load_scenario
from services.simulator.dynamics import Profile


def _profile(kind: str, **extra: object) -> ServiceProfile:
    return ServiceProfile(
        name="checkout", kind=kind, tier="critical", protected=False, baseline_capacity=2,
        max_capacity=6, unit_cost_per_hour=0.1, downtime_cost_per_min=10.0, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_latency_is_in_milliseconds_for_a_function_and_seconds_elsewhere() -> None:
    assert unit_of("latency", "lambda") == "ms"
    assert unit_of("latency", "rds") == "s"
    assert unit_of("errors", "ecs-service") == "% of requests"
    assert unit_of("something-new", "asg") == ""


def test_the_limit_is_the_catalogues_slo_or_the_maximum_capacity() -> None:
    slo = _profile("ecs-service", slo={"errors": 2.0})
    assert limit_of("errors", slo) == Limit(2.0, "SLO")
    assert limit_of("capacity", slo) == Limit(6.0, "max capacity")
    assert limit_of("cpu", slo) is None
    assert limit_of("errors", None) is None


def test_a_databases_connections_chart_draws_its_connection_limit() -> None:
    db = _profile("rds", max_connections=500)
    assert limit_of("connections", db) == Limit(500.0, "max connections")
    assert limit_of("connections", _profile("rds")) is None  # not known: no line


def test_a_scenarios_database_brings_its_connection_limit_into_the_catalogue() -> None:
    scenario = load_scenario(builtin_scenarios()["checkout-bad-deploy"]).scenario
    profiles = {s.name: Profile.of(s) for s in scenario.services}
    assert catalogue_of(scenario, profiles)["orders-db"].max_connections == 500
