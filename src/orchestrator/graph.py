"""The incident graph. Wiring only: nodes live in ``orchestrator.nodes``, state in
``orchestrator.state``, run dependencies in ``orchestrator.context``.

    detect ─┬─ confirmed ─> diagnose -> propose ─┬─ Send x5 ─> vote -> decide
            ├─ not yet ──> wait_confirm -> detect └─ nothing ─> escalate
            └─ noise ────> close
    decide ─┬─ execute ──> execute
            ├─ approval ─> approval (interrupt) ─┬─ granted ─> execute
            │                                    └─ denied ──> diagnose (next round) | escalate
            ├─ escalate ─> escalate
            └─ no action > close
    execute -> await_effect (interrupt) -> verify ─┬─ recovered ─> resolve
                                                  └─ not ──> roll back, diagnose | escalate
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from orchestrator.context import RunContext
from orchestrator.nodes import act, analyse, assess, decide, finish, vote
from orchestrator.state import IncidentState, VoteTask

IncidentGraph = CompiledStateGraph[IncidentState, RunContext, IncidentState, IncidentState]


NODES: dict[str, Callable[..., Any]] = {
    "detect": assess.detect,
    "wait_confirm": assess.wait_confirm,
    "diagnose": analyse.diagnose,
    "propose": analyse.propose,
    "vote": vote.cast,
    "decide": decide.decide,
    "approval": act.approval,
    "execute": act.execute,
    "await_effect": act.await_effect,
    "verify": act.verify,
    "resolve": finish.resolve,
    "escalate": finish.escalate,
    "close": finish.close,
}


def build_graph(
    checkpointer: BaseCheckpointSaver[str] | None,
    *,
    nodes: Mapping[str, Callable[..., Any]] | None = None,
) -> IncidentGraph:
    """Wire the incident graph. ``nodes`` replaces node functions by name (the benchmark's
    no-op graph of the same shape); the edges and routers never change."""
    use = {**NODES, **(nodes or {})}
    graph = StateGraph(IncidentState, context_schema=RunContext)
    for name, function in use.items():
        # Send delivers a VoteTask to "vote", not the incident state.
        graph.add_node(name, function, input_schema=VoteTask if name == "vote" else None)

    graph.add_edge(START, "detect")
    graph.add_conditional_edges("detect", assess.after_detect)
    graph.add_edge("wait_confirm", "detect")
    graph.add_conditional_edges("diagnose", analyse.after_diagnose)
    graph.add_conditional_edges("propose", analyse.fan_out, ["vote", "escalate"])
    graph.add_edge("vote", "decide")
    graph.add_conditional_edges("decide", decide.after_decide)
    graph.add_conditional_edges("approval", act.after_approval)
    graph.add_conditional_edges("execute", act.after_execute)
    graph.add_edge("await_effect", "verify")
    graph.add_conditional_edges("verify", act.after_verify)
    for end in ("resolve", "escalate", "close"):
        graph.add_edge(end, END)
    return graph.compile(checkpointer=checkpointer)
