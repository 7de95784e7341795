"""What discovery infers from an inventory, and what it leaves to a person: the pure core of
``estate discover``, on inventories an account could give (the account itself is tested in
test_discover)."""

from __future__ import annotations

from typing import Any

import yaml

from services.estate.discover import Draft, infer, render
from services.estate.inventory import Inventory, Kind, Tagged, TargetGroup
from services.estate.load import parse_estate

ACCOUNT = "arn:aws:{}:us-east-1:123456789012:{}"
LB = ACCOUNT.format("elasticloadbalancing", "loadbalancer/app/shop/1")


def _tg(name: str, balanced: bool = True) -> TargetGroup:
    arn = ACCOUNT.format("elasticloadbalancing", f"targetgroup/{name}/0")
    return TargetGroup(arn, name, (LB,) if balanced else ())


def _tagged(kind: Kind, ident: str, service: str, **more: Any) -> Tagged:
    tags = {"incident-commander:service": service, **more.pop("tags", {})}
    return Tagged(kind, ident, more.pop("arn", f"arn:{kind.value}:{ident}"), tags, **more)


def _infer(
    *tagged: Tagged, groups: tuple[TargetGroup, ...] = (), quarantine: str = "sg-q"
) -> Draft:
    inventory = Inventory(
        region="us-east-1",
        tagged=tagged,
        target_groups={g.arn: g for g in groups},
        quarantine_groups=(quarantine,) if quarantine else (),
    )
    return infer(inventory, name="shop", period_s=60)


def _valid(draft: Draft) -> dict[str, Any]:
    text = render(draft, region="us-east-1")
    parse_estate(text, "draft")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def test_the_main_resources_attributes_win_and_a_disagreement_is_noted() -> None:
    draft = _infer(
        _tagged(Kind.DB_INSTANCE, "orders-db", "orders",
                tags={"incident-commander:tier": "critical", "incident-commander:owner": "data"}),
        _tagged(Kind.SECURITY_GROUP, "sg-1", "orders",
                tags={"incident-commander:tier": "supporting"}),
    )  # fmt: skip
    orders = _valid(draft)["services"]["orders"]
    assert orders["tier"] == "critical"
    assert orders["owners"] == ["data"]
    assert draft.notes["orders"] == [
        "its resources disagree on incident-commander:tier (critical, supporting): took "
        "'critical' from orders-db"
    ]


def test_tag_values_that_are_no_tier_or_boolean_are_noted_and_left_to_the_default() -> None:
    draft = _infer(
        _tagged(Kind.FUNCTION, "f", "f", aliases=("live",),
                tags={"incident-commander:tier": "gold", "incident-commander:protected": "yes"}),
    )  # fmt: skip
    f = _valid(draft)["services"]["f"]
    assert "tier" not in f
    assert "protected" not in f
    assert draft.notes["f"] == [
        "incident-commander:tier='gold' is none of critical, important, supporting",
        "incident-commander:protected='yes': neither true nor false",
    ]


def test_two_main_resources_make_one_service_and_a_note() -> None:
    draft = _infer(
        _tagged(Kind.ECS_SERVICE, "api", "api", cluster="c"),
        _tagged(Kind.FUNCTION, "api-fn", "api", aliases=("live",)),
    )
    api = _valid(draft)["services"]["api"]
    assert api["kind"] == "ecs-service"
    assert "also tagged api: arn:lambda:function:api-fn" in draft.notes["api"][0]


def test_the_alias_is_the_only_one_or_the_live_one() -> None:
    draft = _infer(
        _tagged(Kind.FUNCTION, "a", "a", aliases=("blue",)),
        _tagged(Kind.FUNCTION, "b", "b", aliases=("canary", "prod")),
        _tagged(Kind.FUNCTION, "c", "c", aliases=("live", "prod")),
        _tagged(Kind.FUNCTION, "d", "d"),
    )
    services = _valid(draft)["services"]
    assert services["a"]["resources"]["alias"] == "blue"
    assert services["b"]["resources"]["alias"] == "prod"
    assert "alias" not in services["c"]["resources"]
    assert "alias" not in services["d"]["resources"]
    assert draft.notes["c"] == [
        "function c has aliases live, prod: set resources.alias to the one that takes traffic"
    ]
    assert "has no alias: rollbacks move an alias" in draft.notes["d"][0]


def test_the_target_group_is_the_first_balanced_one_traffic_goes_to() -> None:
    blue, green, stray, web = _tg("blue", balanced=False), _tg("green"), _tg("stray"), _tg("web")
    draft = _infer(
        _tagged(Kind.ECS_SERVICE, "api", "api", cluster="c", target_groups=(blue.arn, green.arn)),
        _tagged(Kind.TARGET_GROUP, "stray", "api", arn=stray.arn),
        _tagged(Kind.ASG, "web", "web", launch_template="lt-1"),
        _tagged(Kind.TARGET_GROUP, "web", "web", arn=web.arn),
        groups=(blue, green, stray, web),
    )
    services = _valid(draft)["services"]
    assert services["api"]["resources"]["target_group"] == "green"
    assert services["web"]["resources"]["target_group"] == "web"  # tagged, none attached
    assert draft.notes["api"] == [
        "target group stray is tagged api but api does not send traffic to it",
        "api sends traffic to blue, green: its request metrics are read from green",
    ]


def test_several_candidates_for_one_resource_are_left_to_a_person() -> None:
    draft = _infer(
        _tagged(Kind.ASG, "web", "web"),
        _tagged(Kind.LOG_GROUP, "/a", "web"),
        _tagged(Kind.LOG_GROUP, "/b", "web"),
        _tagged(Kind.IAM_USER, "deploy", "web", access_keys=("AKIA1", "AKIA2")),
        _tagged(Kind.INSTANCE, "i-1", "web"),
        quarantine="",
    )
    web = _valid(draft)["services"]["web"]
    assert web["resources"] == {"asg": "web", "iam_user": "deploy"}
    assert draft.notes["web"] == [
        "Auto Scaling group web uses a launch configuration: the commander deploys and rolls "
        "back through launch templates",
        "several log groups are tagged web (/a, /b): set resources.log_group to the service's own",
        "IAM user deploy has 2 active keys (AKIA1, AKIA2): set resources.access_key_id to the "
        "one the service uses",
    ]


def test_an_instance_belongs_to_a_service_that_is_not_a_group() -> None:
    draft = _infer(
        _tagged(Kind.DB_INSTANCE, "db", "db"),
        _tagged(Kind.INSTANCE, "i-bastion", "db"),
        _tagged(Kind.INSTANCE, "i-asg", "db", in_asg=True),
    )
    assert _valid(draft)["services"]["db"]["resources"]["instance"] == "i-bastion"
