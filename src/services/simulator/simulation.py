"""The simulated clock and its step: what happens to the estate every ``step`` seconds.

One step, in order:

1. events whose time has come make their changes in AWS (a new revision, an opened port, a
   runaway autoscaler raising desired capacity);
2. every resource is read back from AWS (``observe``);
3. each service's true values are computed in dependency order (``dynamics``), from its load,
   the capacity and revision AWS reports, and the faults in flight (``faults``);
4. metrics are published with ``PutMetricData`` at the simulated timestamp, log lines with
   ``PutLogEvents``, alarms evaluated, and EventBridge events handed to the sink.

Every random draw comes from one generator seeded by the scenario, in a fixed order, so a seed
gives the same run whatever the commander does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from services.aws import actions
from services.aws.port import AwsPort
from services.aws.resources import Estate, present
from services.errors import SimulationError
from services.scenario.model import (
    BadDeploy,
    CostRunaway,
    CredentialCompromise,
    Deploy,
    DiskFull,
    FlappingAlert,
    InstanceCompromise,
    Scenario,
    SecurityGroupExposure,
    ServiceKind,
    TrafficSpike,
    TransientSpike,
)
from services.settings import AwsMode
from services.simulator import changes, findings
from services.simulator.alarms import AlarmEvaluator, AlarmState, alarm_specs
from services.simulator.dynamics import Conditions, Profile, Sample, daily_factor, sample
from services.simulator.estate import build_estate
from services.simulator.faults import Run, apply
from services.simulator.metrics import Datum, datums
from services.simulator.observe import Observed, observe

EventSink = Callable[[dict[str, Any]], None]
"""Receives each EventBridge event the estate emits (GuardDuty, CloudWatch, CloudTrail)."""

LOAD_PROPAGATION = 0.3
"""Share of a caller's extra requests that reaches the services it depends on."""
_NOISE_DRAWS = 8  # per service per step, always drawn, so the sequence never depends on state
_FINDING_EVERY_STEPS = 5
_FLAP_ROLES = {"latency": "latency", "errors": "errors", "cpu": "cpu"}


@dataclass(frozen=True, slots=True)
class ServiceStep:
    sample: Sample
    breaches: list[str]
    observed: Observed
    datums: list[Datum]


@dataclass(slots=True)
class StepReport:
    index: int
    timestamp: datetime
    elapsed_s: int
    services: dict[str, ServiceStep]
    events: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def breaching(self) -> dict[str, list[str]]:
        return {name: s.breaches for name, s in self.services.items() if s.breaches}


class Simulation:
    """A scenario's estate in AWS and its simulated clock."""

    def __init__(
        self,
        port: AwsPort,
        scenario: Scenario,
        *,
        start: datetime | None = None,
        sink: EventSink | None = None,
        run_id: str | None = None,
    ) -> None:
        self.port = port
        self.scenario = scenario
        self.profiles = {s.name: Profile.of(s) for s in scenario.services}
        self.order = _dependency_order(scenario)
        self.callers = {
            s.name: [c.name for c in scenario.services if s.name in c.depends_on]
            for s in scenario.services
        }
        self.run_id = run_id or uuid.uuid4().hex[:6]
        step = timedelta(seconds=scenario.step)
        if start is None:
            # End the run one step before now so every timestamp is in the past, as AWS wants.
            now = datetime.now(UTC).replace(microsecond=0)
            now -= timedelta(seconds=now.timestamp() % scenario.step)
            start = now - timedelta(seconds=scenario.duration) - step
        self.start = start
        self.sink = sink
        self.step_index = 0
        self.estate: Estate | None = None
        self.runs: list[Run] = []
        self._rng = np.random.default_rng(scenario.seed)
        self._pending = sorted(scenario.events, key=lambda e: e.at)
        self._behaviour: dict[str, dict[str, tuple[float, float]]] = {}
        self._observed: dict[str, Observed] = {}
        self._alarms: dict[tuple[str, str], AlarmEvaluator] = {}
        self._evaluate_alarms = port.mode is not AwsMode.ACCOUNT

    # -- lifecycle ------------------------------------------------------------------------------

    def setup(self) -> Estate:
        """Create the estate's resources; the clock stands at step 0."""
        if self.estate is not None:
            raise SimulationError("the estate is already built")
        self.estate = build_estate(self.port, self.scenario, self.profiles, self.run_id)
        for name, res in self.estate.services.items():
            for role, spec in alarm_specs(res, self.profiles[name], self.scenario.step).items():
                self._alarms[(name, role)] = AlarmEvaluator(spec)
        self._observed = self._observe()
        return self.estate

    @property
    def done(self) -> bool:
        return self.step_index >= self.scenario.steps

    @property
    def now(self) -> datetime:
        """The simulated time of the next step."""
        return self.start + timedelta(seconds=self.step_index * self.scenario.step)

    def run(self) -> Iterator[StepReport]:
        if self.estate is None:
            self.setup()
        while not self.done:
            yield self.step()

    # -- one step -------------------------------------------------------------------------------

    def step(self) -> StepReport:
        if self.estate is None:
            raise SimulationError("call setup() before step()")
        if self.done:
            raise SimulationError(f"{self.scenario.name}: the run is over")
        index, ts = self.step_index, self.now
        report = StepReport(index, ts, index * self.scenario.step, {})
        previous = self._observed
        self._start_due_events(report)
        self._drive_runaway_scaling(index)
        self._observed = observed = self._observe()
        report.notes.extend(changes.describe(previous, observed, self.estate))
        samples = self._compute(index, ts, observed)
        jitter = {
            name: (self._rng.standard_normal(_NOISE_DRAWS) * self.profiles[name].noise).tolist()
            for name in self.profiles
        }
        published: dict[str, list[Datum]] = {}
        for name, res in self.estate.services.items():
            published[name] = datums(res, samples[name], self.scenario.step, jitter[name])
        self._put_metrics(ts, [d for ds in published.values() for d in ds])
        self._alarm_step(index, ts, published, report)
        self._findings_step(index, ts, report)
        self._write_logs(ts, samples)
        for name in self.profiles:
            report.services[name] = ServiceStep(
                samples[name],
                samples[name].breaches(self.profiles[name]),
                observed[name],
                published[name],
            )
        for event in report.events:
            if self.sink is not None:
                self.sink(event)
        self.step_index += 1
        return report

    def _start_due_events(self, report: StepReport) -> None:
        assert self.estate is not None
        t = self.step_index * self.scenario.step
        while self._pending and self._pending[0].at <= t:
            event = self._pending.pop(0)
            duration = event.params.duration
            if isinstance(event, TransientSpike) and duration is None:
                duration = 2 * self.scenario.step
            if isinstance(event, FlappingAlert) and duration is None:
                duration = 600
            end = None if duration is None else self.step_index + -(-duration // self.scenario.step)
            obs = self._observed[event.target]
            run = Run(event, self.step_index, self.now, end, self.scenario.step, obs.restart_marker)
            res = self.estate.services[event.target]
            if isinstance(event, Deploy | BadDeploy):
                run.revision = changes.roll_out_revision(self.port, res, obs)
                table = self._behaviour.setdefault(event.target, {})
                if isinstance(event, BadDeploy):
                    table[run.revision] = (
                        event.params.effective_error_rate,
                        event.params.latency_factor,
                    )
                else:
                    table[run.revision] = table.get(obs.revision, (0.0, 1.0))
                report.notes.append(
                    f"{event.kind} on {event.target}: revision {run.revision} rolled out"
                )
            elif isinstance(event, SecurityGroupExposure):
                changes.open_ingress(self.port, res, event.params, obs)
                report.events.append(
                    findings.cloudtrail_call(
                        self.estate,
                        "ec2.amazonaws.com",
                        "AuthorizeSecurityGroupIngress",
                        present(res.iam_user, "IAM user", res.name),
                        {
                            "groupId": res.security_group_id,
                            "ipPermissions": {
                                "items": [
                                    {
                                        "ipProtocol": event.params.protocol,
                                        "fromPort": event.params.port,
                                        "toPort": event.params.port,
                                        "ipRanges": {"items": [{"cidrIp": event.params.cidr}]},
                                    }
                                ]
                            },
                        },
                        self.now,
                    )
                )
            elif isinstance(event, InstanceCompromise):
                run.instance_id = res.host_instance_id or min(obs.instances, default=None)
                if run.instance_id is None:
                    raise SimulationError(f"{event.target}: no instance to compromise")
            elif isinstance(event, DiskFull):
                run.allocated_at_onset_gib = obs.allocated_storage_gib
            report.notes.append(f"{event.kind} starts on {event.target}")
            self.runs.append(run)

    def _drive_runaway_scaling(self, index: int) -> None:
        """A cost-runaway is a misbehaving scaling schedule: each step it raises desired
        capacity through AWS, until its time is up or someone scales the service back in
        (an operator's scale-in overrides the schedule, which then stops)."""
        assert self.estate is not None
        for run in self.runs:
            event = run.event
            if not isinstance(event, CostRunaway) or not run.active(index):
                continue
            res = self.estate.services[event.target]
            current = actions.current_capacity(self.port, res)  # fresh: someone may have acted
            if run.runaway_capacity and current < run.runaway_capacity:
                run.cured_step = index
                continue
            profile = self.profiles[event.target]
            elapsed = (index - run.onset_step + 1) * self.scenario.step
            if elapsed > event.params.over + self.scenario.step:
                continue  # the runaway has run its course; what it left stays until scaled in
            share = min(1.0, elapsed / max(1, event.params.over))
            target = round(profile.capacity + (profile.max_capacity - profile.capacity) * share)
            if target > current:
                actions.set_capacity(self.port, res, target)
                run.runaway_capacity = target

    def _observe(self) -> dict[str, Observed]:
        assert self.estate is not None
        keys_of = {e.target for e in self.scenario.events if isinstance(e, CredentialCompromise)}
        instances_of: dict[str, set[str]] = {}
        for run in self.runs:
            if run.instance_id is not None:
                instances_of.setdefault(run.event.target, set()).add(run.instance_id)
        return observe(self.port, self.estate, keys_of=keys_of, instances_of=instances_of)

    def _compute(
        self, index: int, ts: datetime, observed: dict[str, Observed]
    ) -> dict[str, Sample]:
        assert self.estate is not None
        season = {
            name: daily_factor(index * self.scenario.step) if p.daily else 1.0
            for name, p in self.profiles.items()
        }
        conds = {
            name: Conditions(capacity=max(0, observed[name].capacity)) for name in self.profiles
        }
        for name, cond in conds.items():
            rev = observed[name].revision
            error_add, latency_factor = self._behaviour.get(name, {}).get(rev, (0.0, 1.0))
            cond.error_add += error_add
            cond.latency_factor *= latency_factor
        spikes = dict.fromkeys(self.profiles, 1.0)
        for run in self.runs:
            if run.active(index) and isinstance(run.event, TrafficSpike):
                spikes[run.event.target] *= run.event.params.factor
        # Load flows from callers to what they call: a share of a caller's extra requests
        # reaches its dependencies (caches and early failures absorb the rest).
        demand: dict[str, float] = {}
        for name in reversed(self.order):
            inherited = max((demand[c] for c in self.callers[name]), default=1.0)
            demand[name] = spikes[name] * (1.0 + LOAD_PROPAGATION * (inherited - 1.0))
        for name, cond in conds.items():
            cond.demand_factor = demand[name] * season[name]
        for run in self.runs:
            if run.active(index):
                target = run.event.target
                apply(
                    run,
                    index,
                    self.profiles[target],
                    observed[target],
                    conds[target],
                    present(self.estate.quarantine_security_group_id, "quarantine group", target),
                )
        samples: dict[str, Sample] = {}
        for name in self.order:
            deps = [(self.profiles[d], samples[d]) for d in self.scenario.service(name).depends_on]
            samples[name] = sample(self.profiles[name], conds[name], deps)
        return samples

    # -- publishing -----------------------------------------------------------------------------

    def _put_metrics(self, ts: datetime, data: list[Datum]) -> None:
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        resolution = 1 if self.scenario.step < 60 else 60
        for datum in data:
            by_namespace.setdefault(datum.metric.namespace, []).append(
                {
                    "MetricName": datum.metric.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in datum.metric.dimensions],
                    "Timestamp": ts,
                    "Value": float(datum.value),
                    "Unit": datum.unit,
                    "StorageResolution": resolution,
                }
            )
        for namespace, items in by_namespace.items():
            for start in range(0, len(items), 1000):  # PutMetricData takes 1,000 at most
                self.port.cloudwatch.put_metric_data(
                    Namespace=namespace,
                    MetricData=items[start : start + 1000],  # type: ignore[arg-type]
                )

    def _alarm_step(
        self, index: int, ts: datetime, published: dict[str, list[Datum]], report: StepReport
    ) -> None:
        assert self.estate is not None
        flapping: dict[tuple[str, str], tuple[Run, FlappingAlert]] = {
            (run.event.target, _FLAP_ROLES[run.event.params.metric]): (run, run.event)
            for run in self.runs
            if isinstance(run.event, FlappingAlert) and run.active(index)
        }
        for (name, role), evaluator in self._alarms.items():
            value = next(
                (d.value for d in published[name] if d.metric == evaluator.spec.metric), None
            )
            if value is None:
                continue
            previous = evaluator.state
            changed = evaluator.observe(value)
            if (name, role) in flapping:
                # A flapping alarm: its state toggles every period whatever the metric does.
                run, flap = flapping[(name, role)]
                period = max(1, (flap.params.period or self.scenario.step) // self.scenario.step)
                forced: AlarmState = (
                    "ALARM" if ((index - run.onset_step) // period) % 2 == 0 else "OK"
                )
                changed = forced if forced != previous else None
                evaluator.state = forced
            if changed is None or (previous == "INSUFFICIENT_DATA" and changed == "OK"):
                continue
            alarm = self.estate.services[name].alarms[role]
            reason = f"{role} {'breached' if changed == 'ALARM' else 'recovered'}"
            if self._evaluate_alarms:
                self.port.cloudwatch.set_alarm_state(
                    AlarmName=alarm, StateValue=changed, StateReason=reason
                )
            report.events.append(
                findings.alarm_state_change(
                    self.estate, alarm, evaluator.spec, previous, changed, [value], ts
                )
            )

    def _findings_step(self, index: int, ts: datetime, report: StepReport) -> None:
        """GuardDuty findings for compromises in flight: at onset, then every few steps."""
        assert self.estate is not None
        for run in self.runs:
            event = run.event
            if not run.active(index) or (index - run.onset_step) % _FINDING_EVERY_STEPS:
                continue
            res = self.estate.services[event.target]
            before = len(report.events)
            if isinstance(event, CredentialCompromise):
                report.events.append(
                    findings.guardduty_finding(
                        self.estate,
                        event.params.finding_type,
                        {
                            "resourceType": "AccessKey",
                            "accessKeyDetails": {
                                "userName": res.iam_user,
                                "userType": "IAMUser",
                                "accessKeyId": res.access_key_id,
                            },
                        },
                        f"Credentials of {res.iam_user} used from an unusual address.",
                        f"API calls with access key {res.access_key_id} of IAM user "
                        f"{res.iam_user} came from {event.params.source_ip}, outside AWS.",
                        run.onset,
                        ts,
                        run.findings_sent + 1,
                        {
                            "actionType": "AWS_API_CALL",
                            "awsApiCallAction": {
                                "api": "ListBuckets",
                                "serviceName": "s3.amazonaws.com",
                                "callerType": "Remote IP",
                                "remoteIpDetails": {"ipAddressV4": event.params.source_ip},
                            },
                        },
                    )
                )
            elif isinstance(event, InstanceCompromise):
                report.events.append(
                    findings.guardduty_finding(
                        self.estate,
                        event.params.finding_type,
                        {
                            "resourceType": "Instance",
                            "instanceDetails": {
                                "instanceId": run.instance_id,
                                "tags": [
                                    {"key": "incident-commander:service", "value": event.target}
                                ],
                            },
                        },
                        f"EC2 instance {run.instance_id} is querying a Bitcoin-related domain.",
                        f"{run.instance_id} ({event.target}) is communicating with a "
                        "cryptocurrency mining pool.",
                        run.onset,
                        ts,
                        run.findings_sent + 1,
                    )
                )
            elif isinstance(event, SecurityGroupExposure) and index > run.onset_step:
                report.events.append(
                    findings.guardduty_finding(
                        self.estate,
                        "Recon:EC2/PortProbeUnprotectedPort",
                        {
                            "resourceType": "Instance",
                            "instanceDetails": {
                                "networkInterfaces": [
                                    {"securityGroups": [{"groupId": res.security_group_id}]}
                                ],
                                "tags": [
                                    {"key": "incident-commander:service", "value": event.target}
                                ],
                            },
                        },
                        f"Unprotected port {event.params.port} is being probed.",
                        f"Port {event.params.port} of security group {res.security_group_id} "
                        f"({event.target}) is open to {event.params.cidr} and is being probed.",
                        run.onset,
                        ts,
                        run.findings_sent + 1,
                    )
                )
            if len(report.events) > before:
                run.findings_sent += 1

    def _write_logs(self, ts: datetime, samples: dict[str, Sample]) -> None:
        assert self.estate is not None
        lines: dict[str, list[str]] = {name: [] for name in self.profiles}
        for run in self.runs:
            lines[run.event.target].extend(run.log)
            run.log.clear()
        for name, got in samples.items():
            profile = self.profiles[name]
            for dep in self.scenario.service(name).depends_on:
                dep_profile = self.profiles[dep]
                dep_sample = samples[dep]
                if dep_sample.latency_ms > 3 * dep_profile.latency_ms:
                    lines[name].append(f"ERROR upstream {dep} timed out after 2000 ms")
                elif dep_sample.error_rate > dep_profile.error_rate + 5:
                    lines[name].append(f"ERROR upstream {dep} failed: 503 Service Unavailable")
            if got.utilisation > 0.95 and profile.kind is not ServiceKind.LAMBDA:
                lines[name].append("WARN request queue full: rejecting requests with 503")
            if got.throttle_rate > 0:
                lines[name].append("ERROR Rate Exceeded: function concurrency limit reached")
        millis = int(ts.timestamp() * 1000)
        for name, text in lines.items():
            if not text:
                continue
            res = self.estate.services[name]
            self.port.logs.put_log_events(
                logGroupName=present(res.log_group, "log group", name),
                logStreamName=present(res.log_stream, "log stream", name),
                logEvents=[{"timestamp": millis, "message": line} for line in dict.fromkeys(text)],
            )


def _dependency_order(scenario: Scenario) -> list[str]:
    """Service names with every dependency before the services that call it."""
    order: list[str] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        placed.add(name)
        for dep in scenario.service(name).depends_on:
            place(dep)
        order.append(name)

    for service in scenario.services:
        place(service.name)
    return order
