"""Realising a hand-written estate file against the foreign estate: every resource the file names
that the account does not have is reported in one pass, each with the file and the field."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from estatekit import ForeignEstate
from services.aws.port import AwsPort, open_aws_port
from services.errors import EstateFileError
from services.estate.load import parse_estate
from services.estate.realise import realise
from services.settings import Settings


@pytest.fixture(scope="module")
def port(foreign: ForeignEstate) -> Iterator[AwsPort]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, localstack_url=foreign.endpoint_url, aws_region=foreign.region
    )
    with open_aws_port(settings) as port:
        yield port


def test_every_missing_resource_is_named_with_its_field(
    port: AwsPort, foreign: ForeignEstate
) -> None:
    spec = parse_estate(
        textwrap.dedent(
            f"""
            version: 1
            name: shop
            quarantine_security_group: sg-0000000000000dead
            services:
              checkout:
                kind: ecs-service
                resources:
                  ecs_cluster: shop
                  ecs_service: checkout
                  iam_user: checkout-deploy
                  access_key_id: AKIANOTTHEKEY
              cart:
                kind: ecs-service
                resources: {{ecs_cluster: shop, ecs_service: cart}}
              web:
                kind: asg
                resources: {{asg: web, target_group: web-old}}
              jobs:
                kind: asg
                resources: {{asg: jobs}}
              resize:
                kind: lambda
                resources: {{function: resize, log_group: /aws/lambda/resize-old}}
              thumbs:
                kind: lambda
                resources: {{function: thumbs}}
              orders-db:
                kind: rds
                resources:
                  db_instance: orders-db
                  security_group: {foreign.db_security_group_id}
                  alarms: [orders-db-cpu]
            """
        ),
        "estate.yaml",
    )
    with pytest.raises(EstateFileError) as raised:
        realise(port, spec, "estate.yaml")
    assert raised.value.source == "estate.yaml"
    assert {i.field: i.message for i in raised.value.issues} == {
        "services.checkout.resources.access_key_id": (
            "IAM user 'checkout-deploy' has no key 'AKIANOTTHEKEY'"
        ),
        "services.cart.resources.ecs_service": "no active ECS service 'cart' in cluster 'shop'",
        "services.web.resources.target_group": "no target group 'web-old'",
        "services.jobs.resources.asg": "no Auto Scaling group 'jobs'",
        "services.resize.resources.log_group": "no log group '/aws/lambda/resize-old'",
        "services.thumbs.resources.function": "no Lambda function 'thumbs'",
        "services.orders-db.resources.alarms": "no CloudWatch alarm named 'orders-db-cpu'",
        "quarantine_security_group": "no security group 'sg-0000000000000dead'",
    }
    assert "estate.yaml: 8 problems in estate file" in str(raised.value)


def test_a_file_naming_what_the_account_has_realises(port: AwsPort, foreign: ForeignEstate) -> None:
    spec = parse_estate(
        textwrap.dedent(
            f"""
            version: 1
            name: shop
            quarantine_security_group: {foreign.quarantine_security_group_id}
            services:
              checkout:
                kind: ecs-service
                capacity: {{max: 6}}
                resources:
                  ecs_cluster: shop
                  ecs_service: checkout
                  target_group: {foreign.checkout_target_group_arn}
                  iam_user: checkout-deploy
                  access_key_id: {foreign.checkout_access_key_id}
                  alarms: [checkout-5xx]
            """
        )
    )
    realised = realise(port, spec, "estate.yaml")
    checkout = realised.estate.services["checkout"]
    assert checkout.alarms == {"checkout-5xx": "checkout-5xx"}
    assert checkout.target_group_dimension == foreign.checkout_target_group_dimension
    assert checkout.load_balancer_dimension == foreign.load_balancer_dimension
    assert realised.estate.quarantine_security_group_id == foreign.quarantine_security_group_id
    assert realised.catalogue["checkout"].max_capacity == 6


def test_an_estate_in_another_region_than_the_commander_reaches_is_refused(
    port: AwsPort,
) -> None:
    spec = parse_estate(
        "version: 1\nname: shop\nregion: eu-west-1\nservices:\n"
        "  orders-db: {kind: rds, resources: {db_instance: orders-db}}\n",
        "estate.yaml",
    )
    with pytest.raises(EstateFileError) as refused:
        realise(port, spec, "estate.yaml")
    assert [(i.field, i.message) for i in refused.value.issues] == [
        (
            "region",
            f"the estate is in eu-west-1, but the commander reaches {port.region}: "
            "set IC_AWS_REGION=eu-west-1",
        )
    ]
