"""Faults and noise in flight: what each does to its target every step, and when it is cured.

A fault is cured only by a change in AWS that addresses its cause (read back each step): a
rollback to a revision without the defect, a restart that frees leaked memory, a database reboot
or failover, more storage, a deactivated key, a revoked rule, an isolated instance. Capacity
faults (saturation, spikes, runaway scaling) are not cured but outgrown or undone by capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.scenario.model import (
    BadDeploy,
    ConnectionExhaustion,
    CpuSaturation,
    CredentialCompromise,
    DependencyLatency,
    DiskFull,
    Event,
    InstanceCompromise,
    MemoryLeak,
    SecurityGroupExposure,
    TrafficSpike,
    TransientSpike,
)
from services.simulator.dynamics import Conditions, Profile
from services.simulator.observe import Observed

NEEDS_A_CURE = frozenset(
    {
        "bad-deploy",
        "memory-leak",
        "dependency-latency",
        "connection-exhaustion",
        "disk-full",
        "credential-compromise",
        "instance-compromise",
        "security-group-exposure",
    }
)
"""Faults that last until a change in AWS cures them; the others are outgrown by capacity."""

OOM_ERROR_BURST = 25.0
SATURATED_CPU = 98.0
"""Percentage points of failing requests in a step where tasks die out of memory."""


@dataclass(slots=True)
class Run:
    """One event of the scenario once its time has come."""

    event: Event
    onset_step: int
    onset: datetime
    end_step: int | None
    step_s: int
    marker_at_onset: str = ""
    """The target's restart marker (or database reboot count) when the fault began."""
    allocated_at_onset_gib: float = 0.0
    revision: str | None = None
    leak: float = 0.0
    instance_id: str | None = None
    cured_step: int | None = None
    """When a change in AWS cured it; its effects stop."""
    resolved_step: int | None = None
    """When its harm was undone while its effects go on (a full disk given more storage)."""
    runaway_capacity: int = 0
    """The highest desired capacity a cost-runaway set."""
    findings_sent: int = 0
    log: list[str] = field(default_factory=list)

    def active(self, step: int) -> bool:
        if self.cured_step is not None or step < self.onset_step:
            return False
        return self.end_step is None or step < self.end_step


def apply(
    run: Run, step: int, profile: Profile, obs: Observed, cond: Conditions, quarantine: str
) -> None:
    """Add ``run``'s effect to ``cond``; mark it cured when AWS state shows the cure."""
    event = run.event
    elapsed = step - run.onset_step
    if isinstance(event, CpuSaturation):
        # "CPU near 100 %": at least enough to pin the baseline capacity, whatever its CPU.
        cond.cpu_cost_factor *= max(event.params.factor, SATURATED_CPU / max(profile.cpu, 1.0))
        run.log.append("WARN worker pool busy: event loop blocked for 850 ms")
    elif isinstance(event, MemoryLeak):
        # Out-of-memory kills below replace tasks without changing AWS state; a restart made
        # through AWS (new deployment, replaced instances) clears the leak for good.
        if restarted(run, obs):
            run.cured_step = step
            run.log.append("INFO tasks replaced; heap usage back to baseline")
            return
        run.leak += event.params.rate
        if profile.memory + run.leak >= 100.0:
            run.leak = 0.0
            cond.error_add += OOM_ERROR_BURST
            run.log.append(
                "FATAL java.lang.OutOfMemoryError: Java heap space; task killed (exit 137)"
            )
        cond.leaked_memory += run.leak
    elif isinstance(event, BadDeploy):
        # The defect lives in the revision (the simulation's behaviour table applies it while
        # that revision runs); the fault itself only notices when something else runs.
        if obs.revision != run.revision:
            run.cured_step = step
            return
        run.log.append(
            f"ERROR request failed: java.lang.NullPointerException at "
            f"{_camel(profile.name)}Handler.handle({_camel(profile.name)}Handler.java:142)"
        )
    elif isinstance(event, DependencyLatency):
        if restarted(run, obs):
            run.cured_step = step
            return
        cond.latency_factor *= event.params.factor
        run.log.append("LOG: duration: 2315.442 ms  statement: SELECT * FROM orders WHERE ...")
    elif isinstance(event, ConnectionExhaustion):
        if obs.restart_marker != run.marker_at_onset:
            run.cured_step = step
            return
        ramp = min(1.0, (elapsed + 1) * run.step_s / max(1, event.params.over))
        cond.connections = (
            profile.connections + (profile.max_connections - profile.connections) * ramp
        )
        if cond.connections >= profile.max_connections:
            run.log.append("FATAL: sorry, too many clients already")
    elif isinstance(event, DiskFull):
        used_at_start = run.allocated_at_onset_gib - profile.free_storage_gib
        fill = profile.free_storage_gib * min(
            1.0, (elapsed + 1) * run.step_s / max(1, event.params.over)
        )
        cond.free_storage_gib = max(0.0, obs.allocated_storage_gib - used_at_start - fill)
        grown = obs.allocated_storage_gib > run.allocated_at_onset_gib
        if grown and cond.free_storage_gib > 0.0 and run.resolved_step is None:
            run.resolved_step = step
        if cond.free_storage_gib <= 0.0:
            run.log.append(
                'ERROR: could not extend file "base/16384/24576": No space left on device'
            )
    elif isinstance(event, InstanceCompromise):
        gone = run.instance_id not in obs.instances or run.instance_id in obs.quarantined
        if gone:
            run.cured_step = step
            return
        capacity = max(1, obs.capacity)
        cond.extra_cpu += max(0.0, event.params.cpu - profile.cpu) / capacity
        run.log.append(
            f"WARN outbound connection from {run.instance_id} to pool.supportxmr.com:3333"
        )
    elif isinstance(event, CredentialCompromise):
        if not obs.key_active:
            run.cured_step = step
    elif isinstance(event, SecurityGroupExposure):
        rule = (event.params.protocol, event.params.port, event.params.cidr)
        if rule not in obs.open_ingress:
            run.cured_step = step
    elif isinstance(event, TrafficSpike):
        if event.params.malicious:
            run.log.append(
                f"WARN rate anomaly: {int(profile.rps * 60 * event.params.factor)} requests "
                f"in 60s from {event.params.sources} client addresses"
            )
    elif isinstance(event, TransientSpike):
        metric = event.params.metric
        cond.spike[metric] = cond.spike.get(metric, 1.0) * event.params.factor


def restarted(run: Run, obs: Observed) -> bool:
    """Whether the target was restarted through AWS since the fault began: a new deployment
    or a reboot count that moved; for a group of instances, none of the instances it had at
    the onset is left (a scale-out adds instances but restarts nothing)."""
    if obs.instances and run.marker_at_onset:
        return not set(run.marker_at_onset.split(",")) & obs.instances
    return obs.restart_marker != run.marker_at_onset


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
