"""A deploy made shortly before the commander first looked at an estate is a change it counts:
AWS dates it (the ECS deployment's createdAt, the Lambda version's LastModified), so a bad deploy
of a minute ago is not taken for how the service always ran. A simulated estate is not dated
this way; a service on its first revision has no deploy to date."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.stub import Stubber

from estatekit import ForeignEstate
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger, ChangeLedger
from services.aws import telemetry
from services.aws.port import AwsPort, open_aws_port
from services.estate.load import parse_estate
from services.estate.realise import RealisedEstate, realise
from services.settings import Settings


@pytest.fixture(scope="module")
def port(foreign: ForeignEstate) -> Iterator[AwsPort]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, localstack_url=foreign.endpoint_url, aws_region=foreign.region
    )
    with open_aws_port(settings) as port:
        yield port


@pytest.fixture(scope="module")
def deployed(port: AwsPort, foreign: ForeignEstate) -> RealisedEstate:
    """checkout moved to revision 2 and resize's alias to version 2, before any commander."""
    foreign.client("ecs").update_service(
        cluster=foreign.cluster, service=foreign.ecs_service,
        taskDefinition=foreign.task_definition_arns[1], forceNewDeployment=True,
    )  # fmt: skip
    foreign.client("lambda").update_alias(
        FunctionName=foreign.function, Name=foreign.alias, FunctionVersion="2"
    )
    spec = parse_estate(
        textwrap.dedent(
            f"""
            version: 1
            name: shop
            services:
              checkout:
                kind: ecs-service
                resources: {{ecs_cluster: {foreign.cluster}, ecs_service: {foreign.ecs_service}}}
              resize:
                kind: lambda
                resources: {{function: {foreign.function}, alias: {foreign.alias}}}
              orders-db:
                kind: rds
                resources: {{db_instance: {foreign.db_instance}}}
            """
        )
    )
    return realise(port, spec, "estate.yaml")


def test_aws_dates_the_revisions_that_replaced_an_earlier_one(
    port: AwsPort, deployed: RealisedEstate
) -> None:
    dated = telemetry.deployed_at(port, deployed.estate.services.values())
    assert set(dated) == {"checkout", "resize"}  # orders-db has no revisions to date
    now = datetime.now(UTC)
    assert all(
        now - timedelta(minutes=5) < at <= now + timedelta(seconds=5) for at in dated.values()
    )


def _commander(port: AwsPort, deployed: RealisedEstate, tmp_path: Path, watched: bool) -> Commander:
    now = datetime.now(UTC)
    clock = Clock(start=now - timedelta(minutes=10), step_s=60, step=10)
    ctx = RunContext(
        port=port, estate=deployed.estate, catalogue=deployed.catalogue,
        ledger=ActionLedger(tmp_path / "ledger.sqlite"),
        changelog=ChangeLedger(tmp_path / "ledger.sqlite", estate="shop"),
        clock=clock, date_first_deploys=watched,
    )  # fmt: skip
    return Commander(build_graph(None), ctx)


def test_a_watched_estate_counts_a_deploy_made_before_its_first_look(
    port: AwsPort, deployed: RealisedEstate, tmp_path: Path
) -> None:
    commander = _commander(port, deployed, tmp_path, watched=True)
    commander.tick()
    changes = commander.ctx.changes
    assert set(changes) == {"checkout", "resize"}
    assert all(steps[0] in {9, 10} for steps in changes.values()), changes  # a minute ago
    # kept: a restarted commander knows them
    assert ChangeLedger(tmp_path / "ledger.sqlite", estate="shop").changes() == changes


def test_a_simulated_estate_is_not_dated_at_first_look(
    port: AwsPort, deployed: RealisedEstate, tmp_path: Path
) -> None:
    commander = _commander(port, deployed, tmp_path, watched=False)
    commander.tick()
    assert commander.ctx.changes == {}


def test_cloudtrail_deploys_are_attributed_to_the_services_they_name(
    port: AwsPort, deployed: RealisedEstate, foreign: ForeignEstate
) -> None:
    """The emulators have no LookupEvents, so CloudTrail's answer is stubbed through botocore's
    own seam, in the shape its API reference documents."""
    at = datetime(2026, 12, 3, 10, 4, 30, tzinfo=UTC)
    service_arn = f"arn:aws:ecs:{foreign.region}:{foreign.account_id}:service/shop/checkout"
    events = [
        {"EventId": "1", "EventName": "UpdateService", "EventTime": at,
         "Resources": [{"ResourceType": "AWS::ECS::Service", "ResourceName": service_arn}],
         "CloudTrailEvent": json.dumps({"requestParameters": {"service": "checkout"}})},
        {"EventId": "2", "EventName": "UpdateAlias20150331", "EventTime": at,
         "Resources": [],
         "CloudTrailEvent": json.dumps({"requestParameters": {"functionName": foreign.function,
                                                              "name": foreign.alias}})},
        {"EventId": "3", "EventName": "UpdateService", "EventTime": at,  # not of this estate
         "Resources": [{"ResourceName": "arn:aws:ecs:us-east-1:1:service/other/billing"}]},
        {"EventId": "4", "EventName": "PutMetricData", "EventTime": at,  # not a deploy
         "Resources": [{"ResourceName": service_arn}]},
    ]  # fmt: skip
    start, end = at.replace(minute=3), at.replace(minute=5)
    with Stubber(port.cloudtrail) as stub:
        stub.add_response(
            "lookup_events", {"Events": events},
            {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
             "StartTime": start, "EndTime": end},
        )  # fmt: skip
        got = telemetry.deploy_events(port, deployed.estate.services.values(), start, end)
    assert got == {"checkout": [at], "resize": [at]}


def test_an_endpoint_without_cloudtrail_turns_it_off_and_the_commander_goes_on(
    port: AwsPort, deployed: RealisedEstate, tmp_path: Path
) -> None:
    commander = _commander(port, deployed, tmp_path, watched=True)
    commander.tick()  # the emulator answers LookupEvents with an error
    commander.ctx.clock.step += 1
    commander.tick()
    assert commander._cloudtrail is False
    assert set(commander.ctx.changes) == {"checkout", "resize"}  # from the first look
