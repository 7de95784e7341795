"""Reading an estate file: every problem reported at once, each with the file and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from services.errors import EstateFileError
from services.estate.load import load_estate, parse_estate, routes_of
from services.scenario.model import ServiceKind, Tier

GOOD = """
version: 1
name: shop
region: eu-west-1
period: 2m
quarantine_security_group: sg-0quarantine
services:
  checkout:
    kind: ecs-service
    tier: critical
    downtime_cost_per_min: 2500
    depends_on: [orders-db]
    owners: [team-payments]
    escalation: pagerduty:payments
    slo: {error_rate_percent: 1, latency: 0.5}
    capacity: {baseline: 3, max: 12, unit_cost_per_hour: 0.04}
    resources:
      ecs_cluster: shop
      ecs_service: checkout
      target_group: checkout
      security_group: sg-0checkout
      iam_user: checkout-deploy
      access_key_id: AKIAEXAMPLE
      log_group: /ecs/checkout
      alarms: [checkout-5xx]
    routes:
      - labels: {service: checkout}
      - dimensions: {ServiceName: checkout}
        labels: {env: prod}
  orders-db:
    kind: rds
    protected: true
    resources: {db_instance: orders-db}
  web:
    kind: asg
    depends_on: [checkout]
    resources: {asg: web, instance: i-0123}
  resize:
    kind: lambda
    tier: supporting
    resources: {function: resize, alias: live}
"""


def _parse(body: str) -> EstateFileError:
    with pytest.raises(EstateFileError) as raised:
        parse_estate(textwrap.dedent(body), "estate.yaml")
    return raised.value


def _issues(error: EstateFileError) -> dict[str, str]:
    return {issue.field: issue.message for issue in error.issues}


def test_a_file_with_every_field_reads_into_the_model() -> None:
    estate = parse_estate(GOOD, "estate.yaml")
    assert (estate.name, estate.region, estate.period) == ("shop", "eu-west-1", 120)
    checkout = estate.services["checkout"]
    assert checkout.kind is ServiceKind.ECS_SERVICE
    assert checkout.tier is Tier.CRITICAL
    assert checkout.capacity.max == 12
    assert checkout.slo is not None
    assert checkout.slo.latency == 0.5
    assert estate.services["orders-db"].protected
    assert estate.services["web"].tier is Tier.IMPORTANT  # the default
    assert estate.services["resize"].resources.alias == "live"


def test_routes_say_where_they_were_written_and_how_specific_they_are() -> None:
    routes = routes_of(parse_estate(GOOD), "estate.yaml")
    assert [(r.service, r.where, r.conditions) for r in routes] == [
        ("checkout", "estate.yaml: services.checkout.routes[0]", 1),
        ("checkout", "estate.yaml: services.checkout.routes[1]", 2),
    ]
    assert routes[1].labels == (("env", "prod"),)
    assert routes[1].dimensions == (("ServiceName", "checkout"),)


def test_unknown_keys_at_every_level_are_errors_each_naming_its_field() -> None:
    error = _parse(
        """
        version: 1
        name: shop
        regoin: eu-west-1
        services:
          checkout:
            kind: ecs-service
            teir: critical
            resources: {ecs_cluster: shop, ecs_service: checkout, targetgroup: tg}
            routes: [{labels: {service: checkout}, annotation: {}}]
        """
    )
    unknown = "unknown key (see docs/estate.md for the keys of version 1)"
    assert _issues(error) == {
        "regoin": unknown,
        "services.checkout.teir": unknown,
        "services.checkout.resources.targetgroup": unknown,
        "services.checkout.routes[0].annotation": unknown,
    }
    assert str(error).startswith("estate.yaml: 4 problems in estate file\n")
    assert "  estate.yaml: services.checkout.teir: unknown key" in str(error)


def test_resources_must_fit_the_kind() -> None:
    error = _parse(
        """
        version: 1
        name: shop
        services:
          checkout: {kind: ecs-service, resources: {ecs_cluster: shop, function: f}}
          orders: {kind: rds, resources: {target_group: tg}}
        """
    )
    assert _issues(error) == {
        "services.checkout.resources.ecs_service": "an ecs-service needs it",
        "services.checkout.resources.function": "not a resource of an ecs-service (only of lambda)",
        "services.orders.resources.db_instance": "an rds needs it",
        "services.orders.resources.target_group": (
            "not a resource of an rds (only of asg, ecs-service)"
        ),
    }


def test_names_values_and_version_are_checked() -> None:
    error = _parse(
        """
        version: 2
        name: Shop
        period: 2h
        services:
          Checkout: {kind: rds, tier: vital, resources: {db_instance: x}}
        """
    )
    issues = _issues(error)
    assert issues["version"] == "Input should be 1"
    assert issues["name"] == "'Shop': names are lower-case letters, digits and dashes"
    assert issues["services.Checkout.tier"].startswith("Input should be 'critical'")
    assert issues["services.Checkout"] == (
        "'Checkout': names are lower-case letters, digits and dashes"
    )


def test_a_period_out_of_range_is_refused() -> None:
    error = _parse(
        """
        version: 1
        name: shop
        period: 2h
        services: {db: {kind: rds, resources: {db_instance: x}}}
        """
    )
    assert _issues(error) == {"(top level)": "period: between 1s and 1h"}


def test_dependencies_must_name_other_services_of_the_file() -> None:
    error = _parse(
        """
        version: 1
        name: shop
        services:
          a: {kind: rds, depends_on: [a, ghost], resources: {db_instance: x}}
        """
    )
    assert [(i.field, i.message) for i in error.issues] == [
        ("services.a.depends_on", "a service cannot need itself"),
        ("services.a.depends_on", "'ghost' is not a service of this file (services: a)"),
    ]


def test_a_dependency_cycle_is_reported_as_its_path() -> None:
    error = _parse(
        """
        version: 1
        name: shop
        services:
          a: {kind: rds, depends_on: [b], resources: {db_instance: x}}
          b: {kind: rds, depends_on: [c], resources: {db_instance: y}}
          c: {kind: rds, depends_on: [a], resources: {db_instance: z}}
          d: {kind: rds, depends_on: [a], resources: {db_instance: w}}
        """
    )
    assert _issues(error) == {"services.a.depends_on": "dependency cycle: a -> b -> c -> a"}


def test_routes_of_two_services_that_one_alert_could_match_equally_are_refused() -> None:
    error = _parse(
        """
        version: 1
        name: shop
        services:
          a:
            kind: rds
            resources: {db_instance: x}
            routes: [{labels: {team: payments}}, {dimensions: {DBInstanceIdentifier: "orders-*"}}]
          b:
            kind: rds
            resources: {db_instance: y}
            routes: [{labels: {team: "pay*"}}, {dimensions: {DBInstanceIdentifier: "*-replica"}}]
        """
    )
    assert _issues(error) == {
        "services.a.routes[0]": (
            "overlaps services.b.routes[0] (labels.team=payments / pay*): one alert could match "
            "routes of a and b equally; make one more specific"
        ),
        "services.a.routes[1]": (
            "overlaps services.b.routes[1] (dimensions.DBInstanceIdentifier=orders-* / "
            "*-replica): one alert could match routes of a and b equally; make one more specific"
        ),
    }


def test_an_empty_route_is_refused() -> None:
    error = _parse(
        """
        version: 1
        name: shop
        services:
          a: {kind: rds, resources: {db_instance: x}, routes: [{labels: {}}]}
        """
    )
    [issue] = error.issues
    assert issue.field == "services.a.routes[0]"
    assert "an empty route would match every alert" in issue.message


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("version: 1\nname: [shop\n", "line 3, column 1", "expected ',' or ']'"),
        ("", "(top level)", "expected a mapping of keys, got empty"),
        ("- version: 1\n", "(top level)", "expected a mapping of keys, got a list"),
    ],
)
def test_text_that_is_not_a_mapping_says_where(text: str, field: str, message: str) -> None:
    with pytest.raises(EstateFileError) as raised:
        parse_estate(text, "estate.yaml")
    [issue] = raised.value.issues
    assert issue.field == field
    assert message in issue.message


def test_load_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "estate.yaml"
    with pytest.raises(EstateFileError, match=r"estate\.yaml: \(file\): no such file"):
        load_estate(missing)
    missing.write_text("version: 1\nname: shop\nservices: {}\n")
    with pytest.raises(EstateFileError) as raised:
        load_estate(missing)
    assert raised.value.source == str(missing)
    assert raised.value.issues[0].field == "services"
