"""Which service an alert is about: routes first (the most specific wins, a tie is ambiguous),
then the service it names, then the owner of the resource it names; and which pairs of routes
the loader must refuse because one alert could match both equally."""

from __future__ import annotations

import pytest

from services.aws.resources import Estate, Route, ServiceResources
from services.estate.routing import AlertFacts, matches, overlapping, owner_of, route
from services.scenario.model import ServiceKind


def _estate(*routes: Route) -> Estate:
    checkout = ServiceResources(
        "checkout", ServiceKind.ECS_SERVICE, cluster="shop", ecs_service="checkout-svc",
        security_group_id="sg-0checkout", iam_user="checkout-deploy", access_key_id="AKIA1",
        alarms={"errors": "checkout-5xx"},
    )  # fmt: skip
    orders = ServiceResources("orders-db", ServiceKind.RDS, db_instance_id="orders-primary")
    web = ServiceResources("web", ServiceKind.ASG, asg_name="web-asg", host_instance_id="i-0web")
    resize = ServiceResources("resize", ServiceKind.LAMBDA, function_name="resize-fn")
    return Estate(
        run_id="shop", prefix="shop", region="us-east-1",
        services={s.name: s for s in (checkout, orders, web, resize)},
        depends_on={}, routes=routes,
    )  # fmt: skip


def _route(service: str, where: str = "", **fields: object) -> Route:
    pairs = {k: tuple(sorted(v.items())) for k, v in fields.items() if isinstance(v, dict)}
    resource = fields.get("resource")
    return Route(service, resource=resource if isinstance(resource, str) else None, where=where,
                 **pairs)  # type: ignore[arg-type]  # fmt: skip


# -- route ----------------------------------------------------------------------------------------


def test_a_matching_route_wins_over_the_service_the_alert_names() -> None:
    estate = _estate(
        _route("orders-db", "f: services.orders-db.routes[0]", labels={"team": "data"})
    )
    routed = route(estate, AlertFacts(service="checkout", labels={"team": "data"}))
    assert (routed.service, routed.reason) == ("orders-db", "route f: services.orders-db.routes[0]")


def test_the_most_specific_route_wins() -> None:
    estate = _estate(
        _route("checkout", labels={"team": "payments"}),
        _route("orders-db", labels={"team": "payments"}, dimensions={"DBInstanceIdentifier": "*"}),
    )
    db_alert = AlertFacts(labels={"team": "payments"}, dimensions={"DBInstanceIdentifier": "x"})
    assert route(estate, db_alert).service == "orders-db"
    assert route(estate, AlertFacts(labels={"team": "payments"})).service == "checkout"


def test_a_tie_between_services_is_ambiguous_and_names_both() -> None:
    estate = _estate(
        _route("checkout", labels={"team": "payments"}),
        _route("orders-db", labels={"env": "prod"}),
    )
    routed = route(estate, AlertFacts(service="web", labels={"team": "payments", "env": "prod"}))
    assert routed.service is None
    assert routed.candidates == ("checkout", "orders-db")
    assert routed.reason == "matches routes of checkout and orders-db equally well"


def test_two_routes_of_one_service_are_no_tie() -> None:
    estate = _estate(
        _route("checkout", labels={"team": "payments"}),
        _route("checkout", labels={"env": "prod"}),
    )
    facts = AlertFacts(labels={"team": "payments", "env": "prod"})
    assert route(estate, facts).service == "checkout"


@pytest.mark.parametrize(
    ("pattern", "value", "hit"),
    [
        ("checkout-*", "checkout-api", True),
        ("checkout-*", "checkout", False),
        ("web-?", "web-1", True),
        ("web-?", "web-10", False),
        ("db-[ab]", "db-b", True),
        ("db-[ab]", "db-c", False),
        ("Checkout", "checkout", False),  # case-sensitive
    ],
)
def test_values_are_glob_patterns(pattern: str, value: str, hit: bool) -> None:
    r = _route("checkout", labels={"app": pattern})
    assert matches(r, AlertFacts(labels={"app": value})) is hit


def test_every_condition_must_hold_and_a_missing_field_does_not_match() -> None:
    r = _route("checkout", labels={"app": "checkout"}, annotations={"runbook": "*"},
               resource="arn:aws:cloudwatch:*:alarm:checkout-*")  # fmt: skip
    full = AlertFacts(
        labels={"app": "checkout"}, annotations={"runbook": "https://wiki/r"},
        resource="arn:aws:cloudwatch:us-east-1:1:alarm:checkout-5xx",
    )  # fmt: skip
    assert matches(r, full)
    assert not matches(r, AlertFacts(labels={"app": "checkout"}, resource=full.resource))
    assert not matches(r, AlertFacts(labels=full.labels, annotations=full.annotations))


def test_without_a_route_the_named_service_then_the_resource_owner_is_chosen() -> None:
    estate = _estate()
    assert route(estate, AlertFacts(service="web")).reason == "named service"
    assert route(estate, AlertFacts(service="nope", resource="orders-primary")).service == (
        "orders-db"
    )
    arn = "arn:aws:lambda:us-east-1:123456789012:function:resize-fn"
    assert route(estate, AlertFacts(resource=arn)).service == "resize"
    unrouted = route(estate, AlertFacts(service="nope", resource="i-0stranger"))
    assert unrouted.service is None
    assert unrouted.reason == "no route matches and no service of the estate is named"


@pytest.mark.parametrize(
    ("resource", "owner"),
    [
        ("checkout-5xx", "checkout"),  # an alarm
        ("arn:aws:cloudwatch:us-east-1:1:alarm:checkout-5xx", "checkout"),
        ("arn:aws:ecs:us-east-1:1:service/shop/checkout-svc", "checkout"),
        ("sg-0checkout", "checkout"),
        ("arn:aws:iam::1:user/checkout-deploy", "checkout"),
        ("AKIA1", "checkout"),
        ("arn:aws:autoscaling:us-east-1:1:autoScalingGroup:u:autoScalingGroupName/web-asg", "web"),
        ("i-0web", "web"),
        ("orders-primary", "orders-db"),
        ("orders", None),
    ],
)
def test_owner_of_knows_every_resource_a_service_names(resource: str, owner: str | None) -> None:
    assert owner_of(_estate(), resource) == owner


# -- overlapping ------------------------------------------------------------------------------


def _overlap(a: Route, b: Route) -> list[str]:
    return [shown for _, _, shown in overlapping([a, b])]


def test_equal_literals_of_different_services_overlap() -> None:
    a = _route("checkout", labels={"team": "payments"})
    b = _route("web", labels={"team": "payments"})
    assert _overlap(a, b) == ["labels.team=payments / payments"]
    assert _overlap(a, _route("web", labels={"team": "media"})) == []


def test_routes_of_one_service_never_overlap() -> None:
    a = _route("checkout", labels={"team": "payments"})
    assert _overlap(a, _route("checkout", labels={"team": "*"})) == []


def test_routes_testing_different_fields_do_not_overlap() -> None:
    """One is more specific, or they test different things: the alert decides by specificity."""
    a = _route("checkout", labels={"team": "payments"})
    assert _overlap(a, _route("web", labels={"team": "payments", "env": "prod"})) == []
    assert _overlap(a, _route("web", annotations={"team": "payments"})) == []
    assert _overlap(a, _route("web", dimensions={"team": "payments"})) == []


def test_a_glob_overlaps_a_literal_it_matches() -> None:
    a = _route("checkout", labels={"app": "check*"})
    assert _overlap(a, _route("web", labels={"app": "checkout"})) == [
        "labels.app=check* / checkout"
    ]
    assert _overlap(a, _route("web", labels={"app": "web"})) == []
    assert _overlap(_route("web", labels={"app": "web"}), a) == []


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("pay*", "*ments", True),  # "payments" matches both
        ("pay*", "paym*", True),
        ("*-prod", "*-staging", False),
        ("eu-*", "us-*", False),
        ("a*z", "ab*", True),
        ("web-?", "web-*", True),
        ("db-[ab]", "db-[ba]", True),  # "db-a" matches both
        ("[ab]-primary", "[ba]-primary", True),
        ("db-[ab]-x", "db-[ab]-y", False),
    ],
)
def test_glob_against_glob(a: str, b: str, overlap: bool) -> None:
    found = _overlap(_route("checkout", labels={"k": a}), _route("web", labels={"k": b}))
    assert bool(found) is overlap


def test_every_field_must_be_able_to_meet_for_an_overlap() -> None:
    a = _route("checkout", labels={"team": "payments", "env": "prod"})
    b = _route("web", labels={"team": "pay*", "env": "staging"})
    assert _overlap(a, b) == []
    c = _route("web", labels={"team": "pay*", "env": "pr*"})
    assert _overlap(a, c) == ["labels.env=prod / pr*"]


def test_resources_overlap_like_any_other_field() -> None:
    a = _route("checkout", resource="arn:aws:cloudwatch:*:alarm:checkout-*")
    b = _route("web", resource="arn:aws:cloudwatch:*:alarm:*-5xx")
    assert _overlap(a, b) == [
        "resource=arn:aws:cloudwatch:*:alarm:checkout-* / arn:aws:cloudwatch:*:alarm:*-5xx"
    ]


@pytest.mark.parametrize(("a", "b"), [("web-?", "web-??"), ("db-[ab]", "db-[cd]")])
def test_the_glob_comparison_over_approximates_as_documented(a: str, b: str) -> None:
    """docs/estate.md names these: no value matches both, yet they are called overlapping
    (sound: an overlap is never missed)."""
    found = _overlap(_route("checkout", labels={"k": a}), _route("web", labels={"k": b}))
    assert found == [f"labels.k={a} / {b}"]
