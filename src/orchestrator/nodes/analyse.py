"""Diagnosis and remediation: hypotheses from the evidence, then candidate actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from agents import diagnosis, remediation, security
from agents.model import AgentName, Hypothesis, cause_of
from orchestrator import evidence, second_opinion
from orchestrator.context import RunContext
from orchestrator.correlation import downstream, scope
from orchestrator.nodes import act
from orchestrator.state import Entry, HandOff, IncidentState, VoteTask


def diagnose(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    step = ctx.clock.step
    names = list(ctx.estate.services)
    got = evidence.series(ctx, names)
    length = max((len(v) for m in got.values() for v in m.values()), default=0)
    offset = step - (length - 1)  # series index 0 is this step
    onset = state.get("onset_step", state["opened_step"])
    changes = {
        name: [s - offset for s in steps if s >= offset and not _own(ctx, name, s)]
        for name, steps in ctx.changes.items()
    }
    unread = diagnosis.Evidence(
        series=got,
        edges=[(c, d) for c, deps in ctx.estate.depends_on.items() for d in deps],
        onset_index=max(0, onset - offset),
        changes=changes,
        findings=evidence.findings(state["alerts"]),
        kinds={name: ctx.catalogue[name].kind for name in names},
        flagged=evidence.anomalies(ctx, ctx.policy.persistence),
        scaled=frozenset(ctx.scaled),
        settled={name: (at - offset, fault) for name, (at, fault) in ctx.settled.items()},
    )
    # The cause of the incident's alerts is in a part of the estate related to what they are
    # about; a cause ranked elsewhere is another fault's (another incident works it).
    near = scope({a["service"] for a in state["alerts"]} - {""}, ctx.estate.depends_on)
    # The services it may blame are known before the logs: their capacity and revision (which
    # remediation and the voters need) are read with the logs, in one round trip.
    suspects = [s for s in diagnosis.suspects(unread) if s in ctx.estate.services]
    blamable = [s for s in suspects if s in near] or suspects
    gathered = replace(unread, logs=evidence.logs(ctx, names, onset - 3, snapshots_of=blamable))
    found = diagnosis.diagnose(gathered)
    found = [h for h in found if h["service"] in near or h["service"] == "unknown"] or found
    round_ = state.get("round", 0) + 1
    timeline = [Entry(step=step, node="diagnosis", text=f"round {round_}: {_ranking(found)}")]
    if ctx.llm is not None:
        question = second_opinion.question(state, ctx, found, gathered)
        answer = ctx.llm.review(
            question,
            services=len(
                set(state.get("services", [])) | {h["service"] for h in found} - {"unknown"}
            ),
            anomalies=len(state.get("anomalies", [])),
        )
        merged = second_opinion.merge(found, answer, question)
        timeline.append(Entry(step=step, node="diagnosis", text=second_opinion.note(answer)))
        if merged != found:
            text = f"round {round_} with the model's opinion: {_ranking(merged)}"
            timeline.append(Entry(step=step, node="diagnosis", text=text))
        found = merged
    top = found[0]
    update: dict[str, Any] = {
        "hypotheses": found,
        "round": round_,
        "max_rounds": ctx.policy.max_rounds,
        "timeline": timeline,
        "services": sorted(set(state.get("services", [])) | {top["service"]} - {"unknown"}),
    }
    owner = ctx.causes.get((top["service"], top["fault"]))
    if (fixed := _fixed(state, top, ctx.estate.depends_on)) is not None:
        # Its own cause is fixed; what is left is another fault's (another incident's).
        owner = owner if owner != state["incident_id"] else None
        worked = f"worked by {owner}" if owner else "handed to a new incident"
        text = (
            f"{fixed['fault']} on {fixed['service']} is fixed; what is left is a second fault, "
            f"{top['fault']} on {top['service']}, which neither calls nor serves it: {worked}"
        )
        update["hypotheses"] = [fixed, *(h for h in state.get("hypotheses", []) if h != fixed)]
        update["services"] = state.get("services", [])
        update["handed_off"] = HandOff(step=step, round=round_, hypothesis=top, owner=owner)
        update["reason"] = (
            f"fixed {fixed['fault']} on {fixed['service']}; a second fault, {top['fault']} on "
            f"{top['service']}, {worked}"
        )
        update["timeline"] = [*timeline, Entry(step=step, node="diagnosis", text=text)]
        return update
    if top["service"] != "unknown" and owner not in (None, state["incident_id"]):
        text = f"same root cause as {owner} ({top['fault']} on {top['service']}): joins it"
        update["duplicate_of"] = owner
        update["timeline"] = [*timeline, Entry(step=step, node="diagnosis", text=text)]
    return update


def after_diagnose(state: IncidentState) -> Literal["propose", "close", "resolve"]:
    """Another live incident already works the root cause: this one closes into it, so two
    incidents never act on one fault (each undoing the other's action as not helping). Its
    own cause fixed and a second fault left (``handed_off`` this round), it resolves."""
    handed = state.get("handed_off")
    if handed is not None and handed["round"] == state.get("round"):
        return "resolve"
    return "close" if state.get("duplicate_of") else "propose"


def _fixed(
    state: IncidentState, top: Hypothesis, depends_on: Mapping[str, Sequence[str]]
) -> Hypothesis | None:
    """The cause the last round fixed, when what this round ranks first is a second fault.

    Fixed: an action addressing it succeeded, verification saw the anomalies improve, and its
    service, which was harmed, is back in band; what is still out of band is then another
    fault's. A second fault: the new top hypothesis is on another service, and not the fixed
    fault's kind seen again on a service that calls or serves it, nor a service below a fixed
    traffic spike (the load its fix serves goes on to what it calls). Two faults at once raise
    one set of alarms when their parts of the estate share callers (the front door), and are
    worked as one incident until the first is fixed; from there each is its own incident."""
    checked = state.get("verification")
    if checked is None or checked["round"] != state.get("round") or not checked["improved"]:
        return None
    by_id = {c["id"]: c for c in state.get("candidates", [])}
    addressed = {
        (cause_of(by_id[r["candidate"]]), by_id[r["candidate"]]["addresses"])
        for r in act.this_round(state)
        if r["status"] == "succeeded" and r["candidate"] in by_id
    }
    fixed = next(
        (h for h in state.get("hypotheses", []) if (h["service"], h["fault"]) in addressed), None
    )
    harmed = {a["service"] for a in state.get("anomalies", []) if a["metric"] != "requests"}
    if (
        fixed is None
        or fixed["service"] not in harmed
        or fixed["service"] in checked["unrecovered"]
    ):
        return None
    if top["service"] in {"unknown", fixed["service"]}:
        return None
    below = top["service"] in downstream(fixed["service"], depends_on)
    above = fixed["service"] in downstream(top["service"], depends_on)
    if (below or above) and top["fault"] == fixed["fault"]:
        return None  # the same fault seen again on a neighbour
    if below and fixed["fault"] in remediation.LOAD_CARRIED:
        return None  # the load the fixed service serves goes on to what it calls
    return fixed


def _ranking(found: Sequence[Hypothesis]) -> str:
    return "; ".join(f"{h['fault']} on {h['service']} ({h['confidence']:.2f})" for h in found)


def propose(state: IncidentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    hypotheses = state.get("hypotheses", [])
    named = [h["service"] for h in hypotheses if h["service"] in ctx.estate.services]
    below = {
        h["service"]: downstream(h["service"], ctx.estate.depends_on)
        for h in hypotheses
        if h["fault"] in remediation.LOAD_CARRIED and h["service"] in ctx.estate.services
    }
    reached = [name for names in below.values() for name in names if name not in named]
    facts = evidence.facts(
        ctx, list(dict.fromkeys(named + reached)), state["alerts"], state.get("onset_step")
    )
    tried = state.get("tried", [])
    candidates = remediation.propose(hypotheses, facts, exclude=tried, below=below)
    candidates += security.propose_containment(
        hypotheses, facts, exclude=tried, first_rank=len(candidates)
    )
    text = ", ".join(f"{c['action']} on {c['service']}" for c in candidates) or "nothing to try"
    return {
        "candidates": candidates,
        "timeline": [Entry(step=ctx.clock.step, node="remediation", text=f"proposed: {text}")],
    }


def fan_out(state: IncidentState) -> list[Send] | Literal["escalate"]:
    """Every agent votes on every candidate, in parallel."""
    if not state.get("candidates"):
        return "escalate"
    return [
        Send(
            "vote",
            VoteTask(
                agent=agent.value,
                incident_id=state["incident_id"],
                round=state.get("round", 1),
                candidates=state["candidates"],
                hypotheses=state.get("hypotheses", []),
                anomalies=state.get("anomalies", []),
                services=state.get("services", []),
                onset_step=state.get("onset_step"),
            ),
        )
        for agent in AgentName
    ]


OWN_CHANGE_STEPS = 2
"""Steps after the commander's own rollback in which the revision change AWS reports is that
rollback (it is read back at the next period, or the one after on a slow deploy)."""


def _own(ctx: RunContext, service: str, step: int) -> bool:
    """A revision change the commander made itself (``RunContext.rolled_back``): the fix of a
    cause, not a deploy that could cause the next fault."""
    return any(at <= step <= at + OWN_CHANGE_STEPS for at in ctx.rolled_back.get(service, ()))
