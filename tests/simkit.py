"""Run a small scenario through the real simulator against the emulator, step by step, and read
its metrics back the way an agent would: CloudWatch GetMetricData on the identities that
``metric_ids`` gives, one datapoint per simulated step.

Scenarios are written in the tests as YAML (the scenario format, ``services`` and ``events``
only); the header (version, name, seed, duration, step) is filled in here.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta
from typing import Any

from services.aws import actions
from services.aws.actions import ActionRequest, ActionResult
from services.aws.port import AwsPort
from services.aws.resources import ServiceResources, metric_ids
from services.scenario.loader import parse_scenario
from services.scenario.model import ActionKind, Scenario, ServiceKind
from services.simulator.dynamics import Sample
from services.simulator.simulation import Simulation, StepReport


def scenario(body: str, *, seed: int = 7, duration: str = "12m", step: str = "60s") -> Scenario:
    """A scenario from its ``services:`` / ``events:`` YAML, through the real loader."""
    header = f"version: 1\nname: test\nseed: {seed}\nduration: {duration}\nstep: {step}\n"
    return parse_scenario(header + textwrap.dedent(body), "test.yaml").scenario


class SimRun:
    """A built estate and its clock, with every report and every EventBridge event kept."""

    def __init__(self, port: AwsPort, scenario: Scenario) -> None:
        self.port = port
        self.events: list[dict[str, Any]] = []
        self.sim = Simulation(port, scenario, sink=self.events.append)
        self.estate = self.sim.setup()
        self.reports: list[StepReport] = []

    # -- the clock --------------------------------------------------------------------------------

    def run_to(self, index: int) -> SimRun:
        """Run steps until step ``index`` (inclusive) has happened."""
        while len(self.reports) <= index:
            self.reports.append(self.sim.step())
        return self

    def run_all(self) -> SimRun:
        return self.run_to(self.sim.scenario.steps - 1)

    # -- what happened --------------------------------------------------------------------------

    def res(self, service: str) -> ServiceResources:
        return self.estate.services[service]

    def samples(self, service: str) -> list[Sample]:
        """The true values of ``service`` at every step run so far."""
        return [r.services[service].sample for r in self.reports]

    def metric(self, service: str, role: str) -> list[float]:
        """``service``'s metric ``role`` read back with GetMetricData, one value per step run.

        Period is the step, the statistic is the one the metric identity names; every step must
        have published a datapoint.
        """
        dim = metric_ids(self.res(service))[role]
        step = self.sim.scenario.step
        query: Any = {
            "Id": "m",
            "MetricStat": {"Metric": dim.as_query(), "Period": step, "Stat": dim.stat},
            "ReturnData": True,
        }
        got = self.port.cloudwatch.get_metric_data(
            MetricDataQueries=[query],
            StartTime=self.sim.start,
            EndTime=self.sim.now,
            ScanBy="TimestampAscending",
        )["MetricDataResults"][0]
        by_step = {
            int((ts - self.sim.start) / timedelta(seconds=step)): value
            for ts, value in zip(got["Timestamps"], got["Values"], strict=True)
        }
        assert sorted(by_step) == list(range(len(self.reports))), (
            f"{service} {dim.name}: datapoints for steps {sorted(by_step)}, "
            f"expected one for each of {len(self.reports)} steps"
        )
        return [by_step[i] for i in range(len(self.reports))]

    def error_pct(self, service: str) -> list[float]:
        """Failed requests in percent of requests per step, from the read-back metrics."""
        errors, requests = self.metric(service, "errors"), self.metric(service, "requests")
        return [100.0 * e / r if r else 0.0 for e, r in zip(errors, requests, strict=True)]

    def revision(self, service: str) -> str:
        """The revision AWS says is running: task definition, launch template version, or the
        function version behind the alias."""
        res = self.res(service)
        if res.kind is ServiceKind.ECS_SERVICE:
            svc = self.port.ecs.describe_services(
                cluster=res.cluster or "", services=[res.ecs_service or ""]
            )["services"][0]
            return svc["taskDefinition"]
        if res.kind is ServiceKind.ASG:
            group = self.port.autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[res.asg_name or ""]
            )["AutoScalingGroups"][0]
            return group["LaunchTemplate"]["Version"]
        alias = self.port.lambda_.get_alias(
            FunctionName=res.function_name or "", Name=res.alias or ""
        )
        return alias["FunctionVersion"]

    def capacity(self, service: str) -> int:
        """Desired capacity as AWS reports it."""
        return actions.current_capacity(self.port, self.res(service))

    def log_lines(self, service: str) -> list[str]:
        """What the service wrote to its CloudWatch Logs stream so far."""
        res = self.res(service)
        got = self.port.logs.get_log_events(
            logGroupName=res.log_group, logStreamName=res.log_stream, startFromHead=True
        )
        return [e.get("message", "") for e in got["events"]]

    def events_of(self, detail_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["detail-type"] == detail_type]

    def event_steps(self, detail_type: str) -> list[int]:
        """The step at which each event of ``detail_type`` was emitted."""
        return [r.index for r in self.reports for e in r.events if e["detail-type"] == detail_type]

    def notes(self) -> list[str]:
        return [note for r in self.reports for note in r.notes]

    # -- acting on the estate -------------------------------------------------------------------

    def act(self, kind: ActionKind | str, service: str, **params: Any) -> ActionResult:
        """Carry out a catalogue action on the estate, as the commander would."""
        return actions.execute(
            self.port, self.estate, ActionRequest(ActionKind(kind), service, params)
        )

    def undo(self, result: ActionResult) -> ActionResult:
        assert result.rollback is not None, f"{result.request.kind} offers no rollback"
        return actions.execute(self.port, self.estate, result.rollback)


WEB_DB = """
services:
  - name: web
    kind: ecs-service
    capacity: 2
    depends_on: [db]
    baseline: {rps: 100, cpu: 35, memory: 40, latency_ms: 100, error_rate: 0.1}
  - name: db
    kind: rds
    baseline: {cpu: 25, connections: 50, max_connections: 200, latency_ms: 5, free_storage_gib: 50}
"""
"""A web tier on a database: the baselines most tests measure effects against."""


def web_db(event: str) -> str:
    """``WEB_DB`` with one event, written as a YAML flow mapping."""
    return f"{WEB_DB}events:\n  - {event}\n"


def start(port: AwsPort, body: str, **header: Any) -> SimRun:
    """Build the estate of a scenario written as ``services:`` / ``events:`` YAML."""
    return SimRun(port, scenario(body, **header))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)
