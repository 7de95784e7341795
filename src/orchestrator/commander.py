"""The commander: alerts in, incidents out. One LangGraph thread per incident.

- ``ingest`` normalises EventBridge events (CloudWatch alarm state changes, GuardDuty findings,
  CloudTrail API calls) into alerts, drops repeats, attaches an alert to an open incident of the
  same or a neighbouring service, and otherwise opens an incident and starts its graph;
- ``tick`` records revision changes it reads back from AWS (the change history diagnosis
  uses), scans every metric of the estate with the detection scorer (faults that trip no
  alarm, such as a slow leak, still open an incident), and resumes every thread whose wait
  has come due;
- approvals pending in threads are listed by ``pending_approvals`` and answered by ``answer``.

Every thread is checkpointed; ``recover`` finds the open ones again after a restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, StateSnapshot

from agents import detection
from orchestrator import evidence
from orchestrator.checkpoints import thread_ids
from orchestrator.context import RunContext
from orchestrator.graph import IncidentGraph
from orchestrator.state import Alert, IncidentState
from services.aws import telemetry
from services.aws.resources import ServiceResources

_FINISHED = frozenset({"resolved", "escalated", "closed", "noise"})
CORRELATION_WINDOW_STEPS = 15
NOISE_SUPPRESSION_STEPS = 15


@dataclass(slots=True)
class _Incident:
    id: str
    services: set[str]
    opened_step: int
    fingerprints: set[str] = field(default_factory=set)
    waiting: dict[str, Any] | None = None
    security: bool = False
    diagnosed: bool = False
    counted: dict[str, int] = field(default_factory=dict)
    """How many votes, decisions and actions of this thread the metrics have seen."""
    finished: bool = False
    status: str = "open"
    last_alert_step: int = 0


class Commander:
    def __init__(self, graph: IncidentGraph, ctx: RunContext) -> None:
        self.graph = graph
        self.ctx = ctx
        self.incidents: dict[str, _Incident] = {}
        self._seen: set[str] = set()
        self._revisions: dict[str, str] = {}
        if ctx.changelog is not None:  # a restarted commander keeps the history it had
            for name, steps in ctx.changelog.changes().items():
                ctx.changes.setdefault(name, [])
                ctx.changes[name] = sorted(set(ctx.changes[name]) | set(steps))
        self._scaled: set[str] = set()
        """Services the commander itself resized: their capacity change is explained."""
        self.alerts_in = 0
        self.alerts_deduplicated = 0

    # -- alerts ---------------------------------------------------------------------------------

    def ingest(self, events: list[dict[str, Any]]) -> list[str]:
        """Take EventBridge events; return the ids of incidents opened by them."""
        alerts = [alert for event in events if (alert := self.normalise(event)) is not None]
        return self.ingest_alerts(alerts)

    def ingest_alerts(self, alerts: list[Alert]) -> list[str]:
        opened: list[str] = []
        metrics = self.ctx.metrics
        for alert in alerts:
            self.alerts_in += 1
            if metrics is not None:
                metrics.alerts_received.labels(alert["source"]).inc()
            target = self._correlate(alert)
            if target is None:
                opened.append(self._open(alert))
                if metrics is not None:
                    metrics.incidents_opened.inc()
            else:
                self.alerts_deduplicated += 1
                if metrics is not None:
                    metrics.alerts_deduplicated.labels(alert["source"]).inc()
                target.fingerprints.add(alert["fingerprint"])
                target.last_alert_step = alert["step"]
        return opened

    def normalise(self, event: dict[str, Any]) -> Alert | None:
        """An alert for events that signal trouble; None for recoveries and unrelated events."""
        kind = event.get("detail-type")
        detail = event.get("detail", {})
        step = self.ctx.clock.step
        if kind == "CloudWatch Alarm State Change":
            if detail.get("state", {}).get("value") != "ALARM":
                return None
            name = detail.get("alarmName", "")
            service = self._service_of_alarm(name)
            if service is None:
                return None
            return Alert(
                fingerprint=f"alarm:{name}", source="cloudwatch", service=service,
                summary=f"alarm {name} in ALARM", step=step, fault_hint=None,
                details={"alarm": name},
            )  # fmt: skip
        if kind == "GuardDuty Finding":
            return self._guardduty(detail, step)
        if kind == "AWS API Call via CloudTrail":
            return self._cloudtrail(detail, step)
        return None

    def _guardduty(self, detail: dict[str, Any], step: int) -> Alert | None:
        resource = detail.get("resource", {})
        finding_type = str(detail.get("type", ""))
        key = resource.get("accessKeyDetails", {})
        instance = resource.get("instanceDetails", {})
        tags = {t.get("key"): t.get("value") for t in instance.get("tags", [])}
        service: str | None = None
        hint = None
        details: dict[str, Any] = {"finding_type": finding_type, "finding_id": detail.get("id")}
        if key:
            service = self._service_by(lambda r: r.iam_user == key.get("userName"))
            hint = "credential-compromise"
            details["access_key_id"] = key.get("accessKeyId")
        elif finding_type.startswith("Recon:EC2/PortProbe"):
            groups = [
                g.get("groupId")
                for nic in instance.get("networkInterfaces", [])
                for g in nic.get("securityGroups", [])
            ]
            service = self._service_by(lambda r: r.security_group_id in groups)
            hint = "security-group-exposure"
        elif instance:
            service = tags.get("incident-commander:service")
            hint = "instance-compromise"
            details["instance_id"] = instance.get("instanceId")
        if service is None or service not in self.ctx.estate.services:
            return None
        return Alert(
            fingerprint=f"guardduty:{detail.get('id')}", source="guardduty", service=service,
            summary=str(detail.get("title", finding_type)), step=step, fault_hint=hint,
            details=details,
        )  # fmt: skip

    def _cloudtrail(self, detail: dict[str, Any], step: int) -> Alert | None:
        if detail.get("eventName") != "AuthorizeSecurityGroupIngress":
            return None
        params = detail.get("requestParameters", {})
        group = params.get("groupId")
        rules = params.get("ipPermissions", {}).get("items", [])
        world = [
            r for r in rules
            for rng in r.get("ipRanges", {}).get("items", [])
            if rng.get("cidrIp") == "0.0.0.0/0"
        ]  # fmt: skip
        service = self._service_by(lambda r: r.security_group_id == group)
        if not world or service is None:
            return None
        port = world[0].get("fromPort")
        return Alert(
            fingerprint=f"cloudtrail:{detail.get('eventID')}", source="cloudtrail", service=service,
            summary=f"{group} opened port {port} to 0.0.0.0/0", step=step,
            fault_hint="security-group-exposure", details={"port": port, "group_id": group},
        )  # fmt: skip

    def _correlate(self, alert: Alert) -> _Incident | None:
        """The incident ``alert`` belongs to, or None when it starts a new one."""
        step = alert["step"]
        for incident in self.incidents.values():
            # An escalated incident is still live: a person owns it, so related alerts join it.
            live = not incident.finished or incident.status == "escalated"
            repeat = alert["fingerprint"] in incident.fingerprints
            # A repeat soon after noise was closed is the same noise (a flapping alarm).
            recent_noise = (
                incident.status == "noise"
                and step - incident.last_alert_step < NOISE_SUPPRESSION_STEPS
            )
            if repeat and (live or recent_noise):
                return incident
            in_window = step - incident.opened_step <= CORRELATION_WINDOW_STEPS
            if live and in_window and self._belongs(alert, incident):
                return incident
        return None

    def _belongs(self, alert: Alert, incident: _Incident) -> bool:
        """Same kind of incident, and a service it covers. Before diagnosis, any service
        connected to it (the root cause is not known yet); after it, the services it covers
        and those that depend on them (degradation travels up to callers, so their alerts are
        symptoms of the same cause)."""
        if (alert["fault_hint"] is not None) != incident.security:
            return False
        if incident.diagnosed:
            return bool(
                {alert["service"], *self._dependencies(alert["service"])} & incident.services
            )
        return bool(incident.services & self._neighbours(alert["service"]))

    def _dependencies(self, service: str) -> set[str]:
        """Everything ``service`` depends on, directly or through others."""
        return _reachable(service, self.ctx.estate.depends_on)

    def _open(self, alert: Alert) -> str:
        digest = hashlib.sha256(f"{self.ctx.estate.run_id}:{alert['fingerprint']}".encode())
        incident_id = f"inc-{digest.hexdigest()[:10]}"
        incident = _Incident(
            id=incident_id,
            services={alert["service"]},
            opened_step=alert["step"],
            fingerprints={alert["fingerprint"]},
            last_alert_step=alert["step"],
            security=alert["fault_hint"] is not None,
        )
        self.incidents[incident_id] = incident
        initial: IncidentState = {
            "incident_id": incident_id,
            "alerts": [alert],
            "opened_step": alert["step"],
            "votes": [],
            "decisions": [],
            "actions": [],
            "tried": [],
            "timeline": [],
        }
        self._run(incident, initial)
        return incident_id

    # -- the clock --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Record revision changes, scan the fleet, then resume every thread whose wait is due."""
        self._track_changes()
        self.ingest_alerts(self._scan())
        step = self.ctx.clock.step
        for incident in list(self.incidents.values()):
            waiting = incident.waiting
            if waiting and waiting.get("type") == "wait" and waiting["until_step"] <= step:
                self._run(incident, Command(resume=step))

    def pending_approvals(self) -> list[dict[str, Any]]:
        return [
            i.waiting
            for i in self.incidents.values()
            if i.waiting and i.waiting.get("type") == "approval"
        ]

    def answer(self, incident_id: str, answer: str, by: str, digest: str) -> None:
        incident = self.incidents[incident_id]
        if not incident.waiting or incident.waiting.get("type") != "approval":
            raise LookupError(f"{incident_id} is not awaiting approval")
        self._run(incident, Command(resume={"answer": answer, "by": by, "hash": digest}))

    def state(self, incident_id: str) -> IncidentState:
        snapshot = self.graph.get_state(self._config(incident_id))
        return snapshot.values  # type: ignore[return-value]

    # -- threads ----------------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Adopt every incident thread the checkpointer holds (after a restart): waits and
        approvals are pending again, and a thread that died inside a node runs on from its
        last checkpoint. Returns the ids of threads still open."""
        saver = self.graph.checkpointer
        if not isinstance(saver, BaseCheckpointSaver):
            raise RuntimeError("the incident graph was compiled without a checkpointer")
        open_ids: list[str] = []
        for incident_id in thread_ids(saver):
            snapshot = self.graph.get_state(self._config(incident_id))
            values = snapshot.values
            alerts: list[Alert] = values.get("alerts", [])
            incident = _Incident(
                id=incident_id,
                services={a["service"] for a in alerts} | set(values.get("services", [])),
                opened_step=int(values.get("opened_step", 0)),
                fingerprints={a["fingerprint"] for a in alerts},
                security=any(a["fault_hint"] for a in alerts),
                last_alert_step=max((a["step"] for a in alerts), default=0),
            )
            self.incidents[incident_id] = incident
            self._absorb(incident, snapshot)
            if snapshot.next and incident.waiting is None:
                self._run(incident, None)  # died inside a node: carry on from the checkpoint
            if not incident.finished:
                open_ids.append(incident_id)
        return open_ids

    def _run(self, incident: _Incident, payload: IncidentState | Command[Any] | None) -> None:
        self.graph.invoke(payload, self._config(incident.id), context=self.ctx)
        self._absorb(incident, self.graph.get_state(self._config(incident.id)))

    def _absorb(self, incident: _Incident, snapshot: StateSnapshot) -> None:
        """Bring the commander's view of ``incident`` up to date with its thread."""
        interrupts = [i for task in snapshot.tasks for i in task.interrupts]
        incident.waiting = dict(interrupts[0].value) if interrupts else None
        values = snapshot.values
        incident.services |= set(values.get("services", []))
        incident.diagnosed = bool(values.get("hypotheses"))
        for record in values.get("actions", []):
            if record["action"] in {"scale-out", "scale-in"}:
                self._scaled.add(record["service"])
        was_finished = incident.finished
        if not interrupts and not snapshot.next:
            incident.finished = True
        if values.get("status") in _FINISHED:
            incident.finished = True
            incident.status = str(values.get("status"))
        if self.ctx.metrics is not None:
            self._count(incident, values, newly_finished=incident.finished and not was_finished)

    def _count(self, incident: _Incident, values: Any, *, newly_finished: bool) -> None:
        """Feed the metrics with what this thread did since they last looked."""
        metrics = self.ctx.metrics
        assert metrics is not None
        seen = incident.counted
        votes, decisions, actions = (
            values.get("votes", []), values.get("decisions", []), values.get("actions", [])
        )  # fmt: skip
        for v in votes[seen.get("votes", 0) :]:
            metrics.votes.labels(v["agent"], v["stance"]).inc()
        for d in decisions[seen.get("decisions", 0) :]:
            metrics.decisions.labels(d["outcome"]).inc()
        for a in actions[seen.get("actions", 0) :]:
            metrics.actions.labels(a["action"], a["status"]).inc()
        seen |= {"votes": len(votes), "decisions": len(decisions), "actions": len(actions)}
        step_s = self.ctx.clock.step_s
        onset = values.get("onset_step")
        confirmed = values.get("confirmed_step")
        if confirmed is not None and onset is not None and not seen.get("detected"):
            metrics.time_to_detect.observe(max(0, confirmed - onset) * step_s)
            seen["detected"] = 1
        if newly_finished:
            metrics.incidents_closed.labels(incident.status).inc()
            if incident.status == "resolved" and onset is not None:
                metrics.time_to_resolve.observe(max(0, self.ctx.clock.step - onset) * step_s)
        metrics.incidents_open.set(sum(1 for i in self.incidents.values() if not i.finished))
        metrics.approvals_pending.set(len(self.pending_approvals()))

    def _config(self, incident_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": incident_id}}

    def _scan(self) -> list[Alert]:
        """The detection scorer over every metric of the estate: persistent anomalies become
        alerts (``detector:service:metric``), except a capacity change the commander made."""
        got = evidence.series(self.ctx, self.ctx.estate.services)
        step = self.ctx.clock.step
        return [
            Alert(
                fingerprint=f"detector:{a.service}:{a.metric}",
                source="detector",
                service=a.service,
                summary=f"{a.service} {a.metric} anomalous (score {a.score:.2f})",
                step=step,
                fault_hint=None,
                details={"metric": a.metric},
            )
            for a in detection.find_anomalies(got, self.ctx.policy.persistence)
            if not (a.metric == "capacity" and a.service in self._scaled)
        ]

    def _track_changes(self) -> None:
        step = self.ctx.clock.step
        for name, res in self.ctx.estate.services.items():
            change = telemetry.current_revision(self.ctx.port, res)
            if change is None:
                continue
            if self.ctx.changelog is not None:
                changed = self.ctx.changelog.observe(name, change.revision, step)
            else:
                before = self._revisions.get(name)
                changed = before is not None and before != change.revision
                self._revisions[name] = change.revision
            if changed and step not in self.ctx.changes.get(name, []):
                self.ctx.changes.setdefault(name, []).append(step)

    def _service_of_alarm(self, alarm: str) -> str | None:
        return self._service_by(lambda r: alarm in r.alarms.values())

    def _service_by(self, match: Callable[[ServiceResources], bool]) -> str | None:
        return next((n for n, r in self.ctx.estate.services.items() if match(r)), None)

    def _neighbours(self, service: str) -> set[str]:
        """Every service connected to ``service`` through dependencies, either way."""
        links: dict[str, set[str]] = {}
        for caller, needs in self.ctx.estate.depends_on.items():
            for dep in needs:
                links.setdefault(caller, set()).add(dep)
                links.setdefault(dep, set()).add(caller)
        return {service} | _reachable(service, links)


def _reachable(start: str, links: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node reachable from ``start`` along ``links`` (``start`` itself only on a cycle)."""
    seen: set[str] = set()
    todo = list(links.get(start, []))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(links.get(name, []))
    return seen
