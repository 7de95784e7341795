"""A service's capacity and revision read in one go: for each kind of resource, the same as AWS
says through the calls the actions use, after a deploy moved two of them on; a resource AWS
does not know fails the read, or is left out of a read made ahead of need."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from services.aws import actions, snapshot
from services.aws.port import AwsPort
from services.aws.resources import ServiceResources
from services.aws.snapshot import Change, Snapshot
from simkit import SimRun, scenario

ESTATE = """
services:
  - {name: web, kind: ecs-service, depends_on: [api, thumbs], capacity: 3}
  - {name: api, kind: asg, depends_on: [db], capacity: 4, max_capacity: 10}
  - {name: thumbs, kind: lambda, capacity: 50}
  - {name: db, kind: rds}
events:
  - {at: 2m, kind: bad-deploy, target: api, params: {latency_factor: 2}}
  - {at: 2m, kind: bad-deploy, target: thumbs, params: {error_rate: 5}}
"""


@pytest.fixture(scope="module")
def run(aws: AwsPort) -> SimRun:
    return SimRun(aws, scenario(ESTATE, duration="4m")).run_to(3)


def _read(
    run: SimRun, names: list[str], *, also: Sequence[ServiceResources] = (), partial: bool = False
) -> dict[str, Snapshot]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        reads = snapshot.start(run.port, [*(run.res(name) for name in names), *also], pool)
        return reads.result(partial=partial)


def test_every_kind_reads_its_capacity_and_revisions(run: SimRun) -> None:
    got = _read(run, ["web", "api", "thumbs", "db"])

    for name in ("web", "api", "thumbs"):
        assert got[name].capacity == actions.current_capacity(run.port, run.res(name))
    assert got["web"].change == Change("web", "task definition", run.revision("web"), None)
    assert got["api"].change == Change("api", "launch template version", "2", "1")
    assert got["thumbs"].change == Change("thumbs", "function version", "2", "1")
    assert got["db"] == Snapshot(1, None)


def test_a_rolled_out_task_definition_names_the_one_before(run: SimRun) -> None:
    first = run.revision("web")
    family = run.res("web").task_family or ""
    definition = run.port.ecs.describe_task_definition(taskDefinition=first)["taskDefinition"]
    second = run.port.ecs.register_task_definition(
        family=family, containerDefinitions=definition["containerDefinitions"]
    )["taskDefinition"]["taskDefinitionArn"]
    res = run.res("web")
    run.port.ecs.update_service(
        cluster=res.cluster or "", service=res.ecs_service or "", taskDefinition=second
    )

    got = _read(run, ["web"])["web"]

    capacity = actions.current_capacity(run.port, res)
    assert got == Snapshot(capacity, Change("web", "task definition", second, first))


def test_a_resource_aws_does_not_know_fails_the_read_or_is_left_out_ahead_of_need(
    run: SimRun,
) -> None:
    gone_ecs = replace(run.res("web"), name="gone-web", ecs_service="no-such-service")
    gone_fn = replace(run.res("thumbs"), name="gone-fn", function_name="no-such-function")

    with pytest.raises(LookupError, match="gone-web"):
        _read(run, ["web"], also=[gone_ecs])
    with pytest.raises(ClientError, match="no-such-function"):
        _read(run, ["thumbs"], also=[gone_fn])
    assert set(_read(run, ["web", "thumbs"], also=[gone_ecs, gone_fn], partial=True)) == {
        "web",
        "thumbs",
    }
