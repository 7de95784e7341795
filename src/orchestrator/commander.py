"""The commander: alerts in, incidents out. One LangGraph thread per incident.

- ``ingest`` normalises EventBridge events (CloudWatch alarm state changes, GuardDuty findings,
  CloudTrail API calls) into alerts, drops repeats, attaches an alert to an open incident of the
  same or a neighbouring service, and otherwise opens an incident and starts its graph;
  ``ingest_signals`` takes the gateway's alerts the same way, and puts one that no service of
  the estate matches on a triage incident for a person (``orchestrator.triage``);
- ``tick`` records revision changes it reads back from AWS (the change history diagnosis
  uses), scans every metric of the estate with the detection scorer (faults that trip no
  alarm, such as a slow leak, still open an incident), and resumes every thread whose wait
  has come due;
- approvals pending in threads are listed by ``pending_approvals`` and answered by ``answer``;
  one left unanswered for ``approval_ttl_steps`` expires (the thread goes on as if denied);
- people acknowledge, annotate and resolve incidents (``acknowledge``, ``note``, ``resolve``).

Every thread is checkpointed; ``recover`` finds the open ones again after a restart. With a
``trail``, everything that happens is journaled to the audit trail (``orchestrator.journal``),
and ``store`` holds each incident at a glance for the incident list.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, StateSnapshot

from orchestrator import evidence, intake, journal, tally, triage
from orchestrator.checkpoints import thread_ids
from orchestrator.context import RunContext
from orchestrator.correlation import Tracked, TriageGroup, correlate, triage_for, triage_group
from orchestrator.graph import IncidentGraph
from orchestrator.intake import Signal
from orchestrator.state import Alert, Entry, HandOff, IncidentState
from orchestrator.store import IncidentStore, MemoryIncidentStore
from orchestrator.summary import FINISHED, summarise, token
from services.audit import AuditRecord
from services.aws import telemetry

log = logging.getLogger(__name__)

FIRST_LOOK_STEPS = 30
"""How far back a deploy found at the commander's first look is dated as a change."""
REEXAMINATIONS = 2
"""How many times an escalated incident is looked at again as new alerts join it."""


class IncidentNotFoundError(LookupError):
    """No incident of that id."""


class NotAwaitingApprovalError(LookupError):
    """The incident has no action waiting for a person (answered, expired or never asked)."""


class Commander:
    def __init__(
        self,
        graph: IncidentGraph,
        ctx: RunContext,
        *,
        trail: journal.Trail | None = None,
        callbacks: Sequence[BaseCallbackHandler] = (),
        approval_ttl_steps: int | None = None,
        store: IncidentStore | None = None,
    ) -> None:
        self.graph = graph
        self.store: IncidentStore = store if store is not None else MemoryIncidentStore()
        """Each incident at a glance, replaced whole whenever its thread moves (readers on other
        threads see one summary or the next); a cluster's gateways read its shared store."""
        self.ctx = ctx
        self.trail = trail
        self.callbacks = list(callbacks)
        self.approval_ttl_steps = approval_ttl_steps
        """Steps an approval request stays open; None: until answered (scenario runs)."""
        self.incidents: dict[str, Tracked] = {}
        self._seen: set[str] = set()
        self._revisions: dict[str, str] = {}
        if ctx.changelog is not None:  # a restarted commander keeps the history it had
            for name, steps in ctx.changelog.changes().items():
                ctx.changes.setdefault(name, [])
                ctx.changes[name] = sorted(set(ctx.changes[name]) | set(steps))
        self._cloudtrail = True
        """Read CloudTrail each step (a watched estate), until it proves unreadable."""
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
        for alert in alerts:
            target = correlate(alert, self.incidents.values(), self.ctx.estate.depends_on)
            self._count(alert, joined=target is not None)
            if target is None:
                opened.append(self._open(alert))
            else:
                new = alert["fingerprint"] not in target.fingerprints
                target.fingerprints.add(alert["fingerprint"])
                target.alerted |= {alert["service"]} - {""}
                target.resolved_alerts.discard(alert["fingerprint"])
                if not target.finished:  # a noise incident's suppression is not extended
                    target.last_alert_step = alert["step"]
                self._journal([journal.attached(target.id, alert)])
                if new and target.finished and target.status == "escalated":
                    self._reexamine(target, alert)
        return opened

    def _reexamine(self, incident: Tracked, alert: Alert) -> None:
        """Look again at an escalated incident when a new alert joins it at a later step than
        its last diagnosis and no person has taken it yet. Escalated with its cause unknown,
        evidence that came later (the callers' errors after a database's connection count, say)
        may name the cause the first look could not: the look keeps the incident's onset.
        Escalated with a known cause (nothing left to try for it), a new alert is a new onset:
        a second fault on the same service or near it (a bad deploy after a saturation that
        capacity only contained), so the look starts from the alert's step. Either way its
        thread goes back to diagnosis with a fresh budget of rounds (what it tried stays
        tried), at most ``REEXAMINATIONS`` times; the same cause found again is escalated
        again, with its reason."""
        config = self.config_of(incident.id)
        values = self.graph.get_state(config).values
        looks = int(values.get("reexamined", 0))
        if incident.acknowledged_by or looks >= REEXAMINATIONS or values.get("kind") == "triage":
            return
        hypotheses = values.get("hypotheses") or [{"service": "unknown"}]
        diagnosed_at = max(
            (e["step"] for e in values.get("timeline", []) if e["node"] == "diagnosis"), default=-1
        )
        if alert["step"] <= diagnosed_at:
            return
        text = f"re-examined: {alert['summary']} ({alert['service']}) joined after escalation"
        update = {
            "status": "confirmed",
            "reason": None,
            "alerts": [alert],
            "round": 0,
            "reexamined": looks + 1,
            "timeline": [Entry(step=self.ctx.clock.step, node="detection", text=text)],
        }
        if hypotheses[0]["service"] != "unknown":
            update["onset_step"] = alert["step"]
        self.graph.update_state(config, update, as_node="detect")  # on to diagnosis
        incident.finished, incident.status = False, "confirmed"
        self._run(incident, None)

    def _count(self, alert: Alert, *, joined: bool, unrouted: bool = False) -> None:
        """Count an alert in: received, and joined (deduplicated) or opening an incident."""
        self.alerts_in += 1
        self.alerts_deduplicated += int(joined)
        metrics = self.ctx.metrics
        if metrics is None:
            return
        metrics.alerts_received.labels(alert["source"]).inc()
        if unrouted:
            metrics.alerts_unrouted.labels(alert["source"]).inc()
        if joined:
            metrics.alerts_deduplicated.labels(alert["source"]).inc()
        else:
            metrics.incidents_opened.inc()
        metrics.noise_reduction.set(self.alerts_deduplicated / self.alerts_in)

    def normalise(self, event: dict[str, Any]) -> Alert | None:
        """An alert for EventBridge events that signal trouble; None for the rest."""
        return intake.from_event(self.ctx.estate, event, self.ctx.clock.step)

    def ingest_signals(self, signals: list[Signal]) -> tuple[list[str], int]:
        """Alerts from the gateway, in order: a firing one about a service of the estate is
        ingested like any other; one that no service matches opens or joins a triage incident
        (``orchestrator.triage``); a resolved one marks its alert resolved (an incident whose
        alerts have all resolved, and that is not in the middle of an action, resolves).
        Returns the incidents opened (triage ones too), and how many firing signals no
        service of the estate matched."""
        opened: list[str] = []
        unrouted = 0
        for signal in signals:
            if not signal.firing:
                self._alert_resolved(signal.fingerprint)
                continue
            alert = intake.from_signal(self.ctx.estate, signal, self.ctx.clock.step)
            if alert is not None:
                opened += self.ingest_alerts([alert])
                continue
            unrouted += 1
            if (triaged := self._triage(triage.alert_of(signal, self.ctx.clock.step))) is not None:
                opened.append(triaged)
        return opened, unrouted

    def _triage(self, alert: Alert) -> str | None:
        """Open a triage incident for ``alert`` (its id), or join it to one (None)."""
        target = triage_for(alert, self.incidents.values())
        self._count(alert, joined=target is not None, unrouted=True)
        if target is None:
            return self._open(alert, triage_group(alert))
        config = self.config_of(target.id)
        repeat = alert["fingerprint"] in target.fingerprints
        target.fingerprints.add(alert["fingerprint"])
        target.resolved_alerts.discard(alert["fingerprint"])
        target.last_alert_step = alert["step"]
        self._journal([journal.attached(target.id, alert), journal.unrouted(target.id, alert)])
        listed = self.store.get(target.id)
        if repeat and listed is not None and triage.severity_of(alert) >= (listed.severity or ""):
            return None  # a repeat changes nothing (the cheap path of a sender's retries)
        snapshot = self.graph.get_state(config)
        if update := triage.joined(snapshot.values, alert, repeat=repeat):
            self.graph.update_state(config, update, as_node="escalate")
            snapshot = self.graph.get_state(config)
        self._summarise(target, snapshot.values)  # the list counts its alerts
        return None

    def _open(self, alert: Alert, group: TriageGroup | None = None) -> str:
        """Open an incident for ``alert`` and run its thread; with a ``group``, a triage
        incident, whose thread is written at its end (escalated) and never runs."""
        incident_id, snapshot = self._thread_for(alert, group)
        if snapshot.values:  # opened by a worker that died before it finished with the alert
            return self._adopt(incident_id, snapshot).id
        incident = Tracked(
            id=incident_id,
            services={alert["service"]} - {""},
            alerted={alert["service"]} - {""},
            opened_step=alert["step"],
            fingerprints={alert["fingerprint"]},
            last_alert_step=alert["step"],
            security=alert["fault_hint"] is not None,
            triage=group,
        )
        self.incidents[incident_id] = incident
        unrouted = [] if group is None else [journal.unrouted(incident_id, alert)]
        self._journal([journal.opened(incident_id, alert), *unrouted])
        if group is not None:
            config = self.config_of(incident_id)
            self.graph.update_state(config, triage.opened(incident_id, alert), as_node="escalate")
            self._absorb(incident, self.graph.get_state(config))
            return incident_id
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
        self._summarise(incident, dict(initial))  # listed (and owned by its run) before it runs
        self._run(incident, initial)
        return incident_id

    def _thread_for(self, alert: Alert, group: TriageGroup | None) -> tuple[str, StateSnapshot]:
        """The id of the thread ``alert`` opens, and its snapshot: empty, or that of a thread
        ``alert`` opened already. The step keeps ids apart when the same alert fires again
        after its incident ended; a triage incident may end and its alert open one again within
        a step, so a triage id is salted past those that ended (one just opened is escalated)."""
        base = f"{self.ctx.estate.run_id}:{'triage:' if group else ''}{alert['fingerprint']}"
        base += f":{alert['step']}"
        again = 0
        while True:
            seed = f"{base}:{again}" if again else base
            incident_id = f"inc-{hashlib.sha256(seed.encode()).hexdigest()[:10]}"
            snapshot = self.graph.get_state(self.config_of(incident_id))
            if group is None or snapshot.values.get("status", "escalated") == "escalated":
                return incident_id, snapshot
            again += 1

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
            elif waiting and waiting.get("type") == "approval" and self._expired(waiting, step):
                self._journal([journal.expired(incident.id, waiting)])
                resume = {"answer": "expired", "by": journal.COMMANDER, "hash": None}
                self._run(incident, Command(resume=resume))

    def _expired(self, waiting: dict[str, Any], step: int) -> bool:
        ttl = self.approval_ttl_steps
        return ttl is not None and step - int(waiting["asked_step"]) >= ttl

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Each approval request waiting, with the ``token`` an answer must quote."""
        return [
            {**i.waiting, "token": token(i.id, i.waiting)}
            for i in self.incidents.values()
            if i.waiting and i.waiting.get("type") == "approval"
        ]

    def answer(
        self, incident_id: str, answer: str, by: str, digest: str, comment: str = ""
    ) -> None:
        """A person's answer (``grant`` or ``deny``) to the approval ``incident_id`` waits on;
        the first to answer for an incident nobody acknowledged acknowledges it too. ``digest``
        must be the hash of the action asked about: an answer given for another
        action, or once the request is gone (answered, expired), raises
        ``NotAwaitingApprovalError`` and changes nothing."""
        incident = self._get(incident_id)
        waiting = incident.waiting
        if not waiting or waiting.get("type") != "approval":
            raise NotAwaitingApprovalError(f"{incident_id} has no action awaiting approval")
        if token(incident_id, waiting) != digest:
            raise NotAwaitingApprovalError(
                f"{incident_id} awaits approval of another request or action than this hash"
            )
        if answer not in {"grant", "deny"}:
            raise ValueError(f"answer must be grant or deny, not {answer!r}")
        kind = "approval.granted" if answer == "grant" else "approval.denied"
        data = {
            "hash": digest, "candidate": waiting["candidate"]["id"], "comment": comment,
            "step": self.ctx.clock.step,
        }  # fmt: skip
        records = [journal.by_person(incident_id, by, kind, data)]
        if incident.acknowledged_by is None:  # whoever answers for the incident owns it now
            incident.acknowledged_by = by
            records.insert(
                0, journal.by_person(incident_id, by, "incident.acknowledged", self._now())
            )
        self._journal(records)
        resume = {"answer": answer, "by": by, "hash": waiting["hash"]}
        self._run(incident, Command(resume=resume))

    def acknowledge(self, incident_id: str, by: str) -> bool:
        """Someone owns ``incident_id`` now; False when it was acknowledged already."""
        incident = self._get(incident_id)
        if incident.acknowledged_by is not None:
            return False
        incident.acknowledged_by = by
        self._journal([journal.by_person(incident_id, by, "incident.acknowledged", self._now())])
        self._summarise(incident, self.graph.get_state(self.config_of(incident_id)).values)
        return True

    def assign(self, incident_id: str, by: str, to: str) -> bool:
        """``by`` hands ``incident_id`` to ``to``, who owns it now; False when ``to`` owned it
        already."""
        incident = self._get(incident_id)
        if incident.acknowledged_by == to:
            return False
        incident.acknowledged_by = to
        data = {"to": to, **self._now()}
        self._journal([journal.by_person(incident_id, by, "incident.assigned", data)])
        self._summarise(incident, self.graph.get_state(self.config_of(incident_id)).values)
        return True

    def note(self, incident_id: str, by: str, text: str) -> None:
        self._get(incident_id)
        self._journal([journal.by_person(incident_id, by, "note", {"text": text, **self._now()})])

    def resolve(self, incident_id: str, by: str, reason: str) -> bool:
        """A person (or all its alerts resolving) ends ``incident_id`` as resolved: its
        thread jumps to its end (a pending approval or wait is dropped). An escalated one
        too: its person fixed it. False when it had ended otherwise already."""
        incident = self._get(incident_id)
        if not incident.live:
            return False
        entry = Entry(step=self.ctx.clock.step, node="resolve", text=f"resolved by {by}: {reason}")
        self._journal(
            [
                journal.by_person(
                    incident_id, by, "incident.resolved", {"reason": reason, **self._now()}
                )
            ]
        )
        self.graph.update_state(
            self.config_of(incident_id),
            {"status": "resolved", "timeline": [entry]},
            as_node="resolve",
        )
        self._absorb(incident, self.graph.get_state(self.config_of(incident_id)))
        return True

    def _alert_resolved(self, fingerprint: str) -> None:
        for incident in self.incidents.values():
            if not incident.live or fingerprint not in incident.fingerprints:
                continue
            incident.resolved_alerts.add(fingerprint)
            pending_action = incident.waiting is not None and incident.waiting["type"] == "wait"
            if incident.resolved_alerts >= incident.fingerprints and not pending_action:
                self.resolve(incident.id, journal.COMMANDER, "every alert resolved")

    def _now(self) -> dict[str, int]:
        """When a person acted, on the commander's clock (timelines order by it)."""
        return {"step": self.ctx.clock.step}

    def _get(self, incident_id: str) -> Tracked:
        try:
            return self.incidents[incident_id]
        except KeyError:
            raise IncidentNotFoundError(f"no incident {incident_id!r}") from None

    def state(self, incident_id: str) -> IncidentState:
        snapshot = self.graph.get_state(self.config_of(incident_id))
        return snapshot.values  # type: ignore[return-value]

    # -- threads ----------------------------------------------------------------------------------

    def recover(self, ids: Iterable[str] | None = None) -> list[str]:
        """Adopt every incident thread the checkpointer holds (after a restart), or those of
        ``ids`` (a cluster's store knows which threads are its estate's): waits and approvals
        are pending again, and a thread that died inside a node runs on from its last
        checkpoint. Returns the ids of threads still open."""
        saver = self.graph.checkpointer
        if not isinstance(saver, BaseCheckpointSaver):
            raise RuntimeError("the incident graph was compiled without a checkpointer")
        open_ids: list[str] = []
        for incident_id in thread_ids(saver) if ids is None else ids:
            snapshot = self.graph.get_state(self.config_of(incident_id))
            if not snapshot.values:
                self._close_unstarted(incident_id)
                continue
            if not self._adopt(incident_id, snapshot).finished:
                open_ids.append(incident_id)
        return open_ids

    def _close_unstarted(self, incident_id: str) -> None:
        """Close an incident listed without a thread: its process died between listing it and
        its thread's first checkpoint. Its alerts are taken again (still in the inbox or the
        stream, or seen again by the scan), opening it again or, at a later step, another
        incident; left alone, this one would be listed open forever."""
        listed = self.store.get(incident_id)
        if listed is None or listed.status in FINISHED:
            return
        reason = (
            "closed at restart: its process stopped before its thread first ran; "
            "its alerts are taken again"
        )
        self._journal([journal.closed_at_restart(incident_id, reason, self.ctx.clock.step)])
        self.store.put(
            replace(
                listed, status="closed", reason=reason, pending_approval=None,
                updated_at=max(listed.updated_at, self.ctx.clock.now),
            )
        )  # fmt: skip

    def _adopt(self, incident_id: str, snapshot: StateSnapshot) -> Tracked:
        """Track a thread the checkpointer holds, and run on one that died inside a step."""
        values = snapshot.values
        alerts: list[Alert] = values.get("alerts", [])
        triaged = values.get("kind") == "triage" and bool(alerts)
        incident = Tracked(
            id=incident_id,
            services=({a["service"] for a in alerts} | set(values.get("services", []))) - {""},
            alerted={a["service"] for a in alerts} - {""},
            opened_step=int(values.get("opened_step", 0)),
            fingerprints={a["fingerprint"] for a in alerts},
            security=any(a["fault_hint"] for a in alerts),
            last_alert_step=max((a["step"] for a in alerts), default=0),
            triage=triage_group(alerts[0]) if triaged else None,
        )
        self.incidents[incident_id] = incident
        if self.trail is not None:
            entries = self.trail.for_incident(incident_id)
            incident.acknowledged_by = journal.acknowledged_by(entries)
            incident.fingerprints |= journal.attached_fingerprints(entries)
        incident.counted = tally.counted_before(values)
        self._absorb(incident, snapshot, adopted=True)
        if snapshot.tasks and incident.waiting is None:
            self._run(incident, None)  # died inside a step: carry on from the checkpoint
        return incident

    def _run(self, incident: Tracked, payload: IncidentState | Command[Any] | None) -> None:
        config = self.config_of(incident.id)
        if self.callbacks:
            config["callbacks"] = self.callbacks
        self.graph.invoke(payload, config, context=self.ctx)
        self._absorb(incident, self.graph.get_state(self.config_of(incident.id)))

    def _absorb(self, incident: Tracked, snapshot: StateSnapshot, *, adopted: bool = False) -> None:
        """Bring the commander's view of ``incident`` up to date with its thread (``adopted``:
        one this commander has just taken from the checkpointer, as it was)."""
        interrupts = [i for task in snapshot.tasks for i in task.interrupts]
        incident.waiting = dict(interrupts[0].value) if interrupts else None
        values = snapshot.values
        incident.services |= set(values.get("services", []))
        incident.diagnosed = bool(values.get("hypotheses"))
        for record in values.get("actions", []):
            if record["action"] in {"scale-out", "scale-in"}:
                self.ctx.scaled.add(record["service"])
            if record["action"] == "rollback-deployment" and record["status"] == "succeeded":
                steps = self.ctx.rolled_back.setdefault(record["service"], [])
                if record["step"] not in steps:
                    steps.append(record["step"])
        was_finished = incident.finished
        # A thread has work left while it has tasks, not only while ``next`` names any: a
        # process that died after a step's tasks wrote their results and before that step's
        # checkpoint leaves tasks with their writes and an empty ``next`` (the first step of
        # a thread, say: its input stored, ``detect`` not yet scheduled). Running on applies
        # those writes and goes on; taken as ended, the incident would stay listed open.
        if not interrupts and not snapshot.tasks:
            incident.finished = True
        if values.get("status") in FINISHED:
            incident.finished = True
            incident.status = str(values.get("status"))
        self._own_cause(incident, values)
        if incident.finished and not was_finished:
            self._settle(incident, values)
        if incident.finished and not was_finished and values.get("duplicate_of"):
            self._merge(incident, str(values["duplicate_of"]), values.get("alerts", []))
        if self.ctx.metrics is not None:
            tally.count(
                self.ctx.metrics, self.ctx.clock, incident.counted, incident.status, values,
                newly_finished=incident.finished and not was_finished and not adopted,
            )  # fmt: skip
            self.ctx.metrics.incidents_open.set(
                sum(1 for i in self.incidents.values() if not i.finished)
            )
            self.ctx.metrics.approvals_pending.set(len(self.pending_approvals()))
        self._journal(journal.thread(incident.id, values, incident.waiting, incident.journaled))
        self._summarise(incident, values)
        if incident.finished and not was_finished and values.get("handed_off"):
            self._hand_off(incident, values["handed_off"])

    def _own_cause(self, incident: Tracked, values: dict[str, Any]) -> None:
        """Keep ``ctx.causes`` naming, for each root cause, the incident working it: its
        diagnosis's top hypothesis, until it ends. (An escalated one does not keep it: the
        same fault found again later is worth acting on again.)"""
        causes = self.ctx.causes
        for cause in [cause for cause, owner in causes.items() if owner == incident.id]:
            del causes[cause]
        hypotheses = values.get("hypotheses") or []
        if not incident.finished and hypotheses and not values.get("duplicate_of"):
            causes.setdefault((hypotheses[0]["service"], hypotheses[0]["fault"]), incident.id)

    def _settle(self, incident: Tracked, values: dict[str, Any]) -> None:
        """An incident that ended resolved after an action succeeded fixed its top cause: from
        the step it ended on, that service's earlier evidence is the fixed cause's
        (``ctx.settled``). The step is the thread's own, not the clock's: a commander rebuilt
        later (a restart, a cluster's fail-over) adopts the incident long after it ended."""
        hypotheses = values.get("hypotheses") or []
        acted = any(a["status"] == "succeeded" for a in values.get("actions", []))
        if incident.status == "resolved" and acted and hypotheses:
            service, fault = hypotheses[0]["service"], hypotheses[0]["fault"]
            step = max((e["step"] for e in values.get("timeline", [])), default=self.ctx.clock.step)
            known = self.ctx.settled.get(service)
            if service in self.ctx.estate.services and (known is None or known[0] <= step):
                self.ctx.settled[service] = (step, fault)

    def _hand_off(self, incident: Tracked, handed: HandOff) -> None:
        """Open an incident for the second fault ``incident`` found once it had fixed its own
        (``analyse.diagnose``), unless another incident works that fault already. Its alert
        is the commander's own, about the fault's service, at the step it was handed on; the
        new incident confirms and diagnoses it from the evidence like any other."""
        second = handed["hypothesis"]
        fingerprint = f"handoff:{incident.id}:{second['service']}:{second['fault']}"
        if handed["owner"] is not None or any(
            fingerprint in other.fingerprints for other in self.incidents.values()
        ):
            return  # worked already, or opened before a restart
        alert = Alert(
            fingerprint=fingerprint,
            source="commander",
            service=second["service"],
            summary=(
                f"{second['fault']} on {second['service']}: a second fault, left when "
                f"{incident.id} fixed its own cause"
            ),
            step=handed["step"],
            fault_hint=None,
            details={"handed_from": incident.id, "fault": second["fault"]},
        )
        if self.ctx.metrics is not None:
            self.ctx.metrics.incidents_opened.inc()
        self._open(alert)

    def _merge(self, duplicate: Tracked, owner_id: str, alerts: list[Alert]) -> None:
        """``duplicate`` closed into ``owner_id``: its alerts join the owner (journaled there,
        so a rebuilt commander knows them), and so do its services, for alerts still to come."""
        owner = self.incidents.get(owner_id)
        if owner is None:
            return
        owner.services |= duplicate.services
        owner.alerted |= duplicate.alerted
        for alert in alerts:
            owner.fingerprints.add(alert["fingerprint"])
            owner.last_alert_step = max(owner.last_alert_step, alert["step"])
        self._journal([journal.attached(owner_id, alert) for alert in alerts])

    def _summarise(self, incident: Tracked, values: dict[str, Any]) -> None:
        ttl = self.approval_ttl_steps
        summary = summarise(
            incident.id, values, clock=self.ctx.clock, waiting=incident.waiting,
            acknowledged_by=incident.acknowledged_by, received=len(incident.fingerprints),
            approval_ttl_steps=ttl if ttl is not None else 10**9,
        )  # fmt: skip
        listed = self.store.get(incident.id)
        if listed is not None and listed.status == summary.status == "resolved":
            # resolved once: its time to resolve was measured then, not at each later look
            summary = replace(summary, time_to_resolve_s=listed.time_to_resolve_s)
        if listed is not None and replace(summary, updated_at=listed.updated_at) == listed:
            return  # nothing changed (a restart adopting it, say): it was not updated
        self.store.put(summary)

    def _journal(self, records: list[AuditRecord]) -> None:
        if self.trail is not None and records:
            self.trail.append(records)

    def config_of(self, incident_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": incident_id}}

    def _scan(self) -> list[Alert]:
        """The detection scorer over every metric of the estate: persistent anomalies become
        alerts (``detector:service:metric``), except a capacity change the commander made."""
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
            for a in evidence.anomalies(self.ctx, self.ctx.policy.persistence)
            if not (a.metric == "capacity" and a.service in self.ctx.scaled)
        ]

    def _track_changes(self) -> None:
        step = self.ctx.clock.step
        running = telemetry.revisions(self.ctx.port, self.ctx.estate.services.values())
        for name, reserved in telemetry.reserved_concurrency(
            self.ctx.port, self.ctx.estate.services.values()
        ).items():
            logged = self.ctx.capacity_log.setdefault(name, {})
            logged[step] = float(reserved)
            for old in [at for at in logged if at < step - evidence.HISTORY_STEPS]:
                del logged[old]
        first_seen: list[str] = []
        for name, revision in running.items():
            changed: bool | None
            if self.ctx.changelog is not None:
                changed = self.ctx.changelog.observe(name, revision, step)
            else:
                before = self._revisions.get(name)
                changed = None if before is None else before != revision
                self._revisions[name] = revision
            if changed is None:
                first_seen.append(name)
            elif changed:
                self._changed(name, step)
        if first_seen and self.ctx.date_first_deploys:
            self._date_first_deploys(first_seen)
        if self.ctx.date_first_deploys and self._cloudtrail:
            self._read_cloudtrail()

    def _read_cloudtrail(self) -> None:
        """Deploys CloudTrail recorded since the last step, at the step they were made (the
        revision reads see them only at the next period); off for good where the endpoint has
        no CloudTrail (LookupEvents is not in the emulators)."""
        clock = self.ctx.clock
        services = self.ctx.estate.services.values()
        try:
            got = telemetry.deploy_events(
                self.ctx.port, services, clock.at(clock.step - 1), clock.at(clock.step + 1)
            )
        except (BotoCoreError, ClientError) as exc:
            self._cloudtrail = False
            log.warning("CloudTrail LookupEvents is not readable here; deploys are seen from "
                        "the resources only: %s", exc)  # fmt: skip
            return
        for name, times in got.items():
            for at in times:
                deployed = int((at - clock.start).total_seconds() // clock.step_s)
                if deployed <= clock.step:
                    if self.ctx.changelog is not None:
                        self.ctx.changelog.record(name, deployed)
                    self._changed(name, deployed)

    def _date_first_deploys(self, names: list[str]) -> None:
        """A deploy made shortly before the commander first looked is still a change."""
        clock = self.ctx.clock
        services = [self.ctx.estate.services[n] for n in names]
        for name, at in telemetry.deployed_at(self.ctx.port, services).items():
            deployed = int((at - clock.start).total_seconds() // clock.step_s)
            if clock.step - FIRST_LOOK_STEPS <= deployed <= clock.step:
                if self.ctx.changelog is not None:
                    self.ctx.changelog.record(name, deployed)
                self._changed(name, deployed)

    def _changed(self, name: str, step: int) -> None:
        if step not in self.ctx.changes.get(name, []):
            self.ctx.changes.setdefault(name, []).append(step)
            self.ctx.changes[name].sort()
