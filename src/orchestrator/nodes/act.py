"""Approval, execution through the ledger, waiting for the effect, verification, rollback."""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents import remediation
from agents.detection import BAD_DIRECTION, MATERIAL
from agents.model import Candidate
from orchestrator import evidence
from orchestrator.context import RunContext
from orchestrator.correlation import reachable
from orchestrator.state import ActionRecord, Entry, IncidentState, Verification
from services.aws import actions
from services.aws.actions import ActionRequest
from services.errors import ResourceBusyError
from services.scenario.model import ActionKind

_LOAD_METRICS = frozenset({"requests"})


def action_hash(candidate: Candidate) -> str:
    """What an approval is bound to: the exact action, service and parameters."""
    blob = json.dumps(
        [candidate["action"], candidate["service"], candidate["params"]], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def approval(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Pause for a person. Resumed with ``{"answer": grant|deny|timeout, "by", "hash"}``."""
    candidate = _chosen(state)
    digest = action_hash(candidate)
    answer = interrupt(
        {
            "type": "approval",
            "incident_id": state["incident_id"],
            "candidate": candidate,
            "hash": digest,
            "rule": state["decisions"][-1]["rule"],
            "asked_step": runtime.context.clock.step,
        }
    )
    step = runtime.context.clock.step
    by = str(answer.get("by", "unknown"))
    if answer.get("answer") == "grant" and answer.get("hash") == digest:
        return {
            "approved_by": by,
            "status": "mitigating",
            "timeline": [_entry(step, "approval", f"{by} approved {candidate['id']}")],
        }
    reason = answer.get("answer", "deny")
    if answer.get("answer") == "grant":
        reason = "approval was for a different action (hash mismatch)"
    return {
        "tried": [candidate["id"]],
        "approved_by": None,
        "timeline": [_entry(step, "approval", f"not approved ({reason}) by {by}")],
    }


def after_approval(state: IncidentState) -> Literal["execute", "diagnose", "escalate"]:
    if state.get("approved_by"):
        return "execute"
    return _next_round(state)


def execute(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the chosen action, and beside it the decision's companions (``DecisionRecord.also``:
    capacity for the same cause on other services), each claimed in the ledger on its own."""
    ctx = runtime.context
    step = ctx.clock.step
    before = _latest(ctx, state)
    chosen = [_chosen(state)]
    if not state.get("approved_by"):  # a person approved one action, not a plan
        chosen += [_candidate(state, c) for c in state["decisions"][-1].get("also", [])]
    records = [_execute_locked(ctx, state, candidate, before) for candidate in chosen]
    return {
        "actions": records,
        "tried": [candidate["id"] for candidate in chosen],
        "status": "mitigating",
        "approved_by": None,
        "verify_until": step + ctx.policy.verify_steps,
        "timeline": [
            _entry(step, "executor", f"{record['status']}: {record['detail']}")
            for record in records
        ],
    }


def _execute_locked(
    ctx: RunContext, state: IncidentState, candidate: Candidate, before: dict[str, float]
) -> ActionRecord:
    round_ = state.get("round", 1)
    key = f"{state['incident_id']}:{round_}:{candidate['id']}"
    try:
        with _locked(ctx, candidate["service"]):
            return _execute_once(ctx, state, candidate, key, before)
    except ResourceBusyError as exc:  # another incident is acting on it: a failed try
        return ActionRecord(
            key=key, round=round_, candidate=candidate["id"], action=candidate["action"],
            service=candidate["service"], status="failed", detail=f"not attempted: {exc}",
            step=ctx.clock.step, rollback=None, approved_by=state.get("approved_by"),
            before=before,
        )  # fmt: skip


def _locked(ctx: RunContext, service: str) -> AbstractContextManager[None]:
    """The service's action lock when workers share the estate (see ``RunContext.locks``)."""
    if ctx.locks is None:
        return nullcontext()
    return ctx.locks.hold(f"{ctx.estate.run_id}:{service}")


def _execute_once(
    ctx: RunContext,
    state: IncidentState,
    candidate: Candidate,
    key: str,
    before: dict[str, float],
) -> ActionRecord:
    round_ = state.get("round", 1)
    step = ctx.clock.step
    if ctx.ledger.begin(key):
        request = ActionRequest(
            ActionKind(candidate["action"]), candidate["service"], candidate["params"]
        )
        result = actions.execute(ctx.port, ctx.estate, request)
        ctx.reads_cache.clear()  # what the estate runs now is not what this step read
        record = ActionRecord(
            key=key,
            round=round_,
            candidate=candidate["id"],
            action=candidate["action"],
            service=candidate["service"],
            status=result.status.value,
            detail=result.detail if result.error is None else f"{result.detail}: {result.error}",
            step=step,
            rollback=_plain(result.rollback),
            approved_by=state.get("approved_by"),
            before=before,
        )
        ctx.ledger.finish(key, dict(record))
    else:
        # Claimed before: by this thread before a crash, or already done. Never call AWS again.
        entry = ctx.ledger.get(key)
        if entry is not None and entry.result is not None:
            record = ActionRecord(**entry.result)  # type: ignore[typeddict-item]
        else:
            record = ActionRecord(
                key=key, round=round_, candidate=candidate["id"], action=candidate["action"],
                service=candidate["service"], status="unknown",
                detail="interrupted before completion; not repeated", step=step,
                rollback=None, approved_by=state.get("approved_by"), before=before,
            )  # fmt: skip
    return record


def after_execute(state: IncidentState) -> Literal["await_effect", "diagnose", "escalate"]:
    if any(r["status"] in {"succeeded", "unknown"} for r in this_round(state)):
        return "await_effect"
    return _next_round(state)


def await_effect(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Pause until the action has had ``verify_steps`` steps to show its effect."""
    interrupt({"type": "wait", "until_step": state.get("verify_until", runtime.context.clock.step)})
    return {}


def verify(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Recovered when every anomalous metric is back in its band. If not, an action that made
    nothing better is rolled back (when it can be) before the next round. The CPU of a service
    whose capacity the commander changed, or which carries a traffic spike's load, is back when
    it runs at or under the target capacity is sized for (``evidence.CPU_TARGET``): more tasks
    carrying a saturating load run hotter than the old ones did at rest, and that is the fix
    working, not the fault (``evidence.served``)."""
    ctx = runtime.context
    step = ctx.clock.step
    now = _latest(ctx, state)
    records = this_round(state)
    record = records[0]
    still_bad, improved, unrecovered = [], False, set()
    carrying = {
        name
        for h in state.get("hypotheses", [])
        if h["fault"] in remediation.LOAD_CARRIED and h["service"] in ctx.estate.services
        for name in {h["service"]} | reachable(h["service"], ctx.estate.depends_on)
    }
    for anomaly in state.get("anomalies", []):
        key = f"{anomaly['service']}|{anomaly['metric']}"
        if key not in now or anomaly["metric"] in _LOAD_METRICS:
            continue  # more requests is demand, not harm
        values = now[key]
        served = evidence.served(ctx, anomaly["service"], anomaly["metric"], values, carrying)
        if not served and not _in_band(anomaly["metric"], anomaly["baseline"], [values]):
            still_bad.append(f"{anomaly['service']} {anomaly['metric']}")
            unrecovered.add(anomaly["service"])
        was = record.get("before", {}).get(key)
        if was is not None and abs(values - anomaly["baseline"]) <= 0.75 * abs(
            was - anomaly["baseline"]
        ):
            improved = True
    if not still_bad:
        return {
            "recovered": True,
            "timeline": [_entry(step, "verify", f"recovered after {record['action']}")],
        }
    verdict = "improved but " if improved else ""
    update: dict[str, Any] = {
        "recovered": False,
        "verification": Verification(
            round=record["round"], improved=improved, unrecovered=sorted(unrecovered)
        ),
        "timeline": [_entry(step, "verify", f"{verdict}not recovered: {', '.join(still_bad)}")],
    }
    if not improved:
        for done in records:
            update["timeline"] += _roll_back(ctx, done)
    return update


def _roll_back(ctx: RunContext, record: ActionRecord) -> list[Entry]:
    """Undo ``record`` when it has an undo: it made nothing better."""
    rollback = record.get("rollback")
    if not rollback or record["status"] != "succeeded":
        return []  # nothing was changed (or nothing is known to be): nothing to undo
    request = ActionRequest(ActionKind(rollback["kind"]), rollback["service"], rollback["params"])
    key = f"{record['key']}:rollback"
    step = ctx.clock.step
    try:
        with _locked(ctx, rollback["service"]):
            if not ctx.ledger.begin(key):
                return []
            result = actions.execute(ctx.port, ctx.estate, request)
            ctx.reads_cache.clear()
            ctx.ledger.finish(key, {"status": result.status.value, "detail": result.detail})
            return [_entry(step, "executor", f"rolled back {record['action']}: {result.detail}")]
    except ResourceBusyError as exc:
        return [_entry(step, "executor", f"rollback not attempted: {exc}")]


def this_round(state: IncidentState) -> list[ActionRecord]:
    """The actions the round's one execution ran (one, or a capacity plan), in the order run."""
    done = state.get("actions", [])
    if not done:
        return []
    return [r for r in done if r["round"] == done[-1]["round"]]


def _latest(ctx: RunContext, state: IncidentState) -> dict[str, float]:
    """The latest value of each of the incident's anomalous metrics, ``service|metric``."""
    anomalies = state.get("anomalies", [])
    got = evidence.series(ctx, {a["service"] for a in anomalies})
    out: dict[str, float] = {}
    for a in anomalies:
        values = got.get(a["service"], {}).get(a["metric"], [])
        if values:
            out[f"{a['service']}|{a['metric']}"] = values[-1]
    return out


def after_verify(state: IncidentState) -> Literal["resolve", "diagnose", "escalate"]:
    if state.get("recovered"):
        return "resolve"
    return _next_round(state)


def _next_round(state: IncidentState) -> Literal["diagnose", "escalate"]:
    return "diagnose" if state.get("round", 1) < state.get("max_rounds", 1) else "escalate"


def _in_band(metric: str, baseline: float, recent: list[float]) -> bool:
    """Back within its baseline band: for rising-bad metrics at most 1.5 x (plus a little for
    error rates and throttle counts near zero); for falling-bad ones (free storage) at least
    half."""
    slack = MATERIAL.get(metric, 0.0)
    if BAD_DIRECTION.get(metric, 1) < 0:
        return all(v >= 0.5 * baseline for v in recent)
    return all(v <= 1.5 * baseline + slack for v in recent)


def _plain(request: ActionRequest | None) -> dict[str, Any] | None:
    """The request as checkpoint-safe plain data (no enums)."""
    if request is None:
        return None
    return {"kind": request.kind.value, "service": request.service, "params": dict(request.params)}


def _chosen(state: IncidentState) -> Candidate:
    return _candidate(state, state.get("pending"))


def _candidate(state: IncidentState, wanted: str | None) -> Candidate:
    for candidate in state.get("candidates", []):
        if candidate["id"] == wanted:
            return candidate
    raise LookupError(f"{state['incident_id']}: no candidate {wanted!r} in this round")


def _entry(step: int, node: str, text: str) -> Entry:
    return Entry(step=step, node=node, text=text)
