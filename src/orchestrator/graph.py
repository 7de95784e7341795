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

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from orchestrator.context import RunContext
from orchestrator.nodes import act, analyse, assess, decide, finish, vote
from orchestrator.state import IncidentState, VoteTask

IncidentGraph = CompiledStateGraph[IncidentState, RunContext, IncidentState, IncidentState]


def build_graph(checkpointer: BaseCheckpointSaver[str]) -> IncidentGraph:
    graph = StateGraph(IncidentState, context_schema=RunContext)
    graph.add_node("detect", assess.detect)
    graph.add_node("wait_confirm", assess.wait_confirm)
    graph.add_node("diagnose", analyse.diagnose)
    graph.add_node("propose", analyse.propose)
    # Send delivers a VoteTask, not the incident state; langgraph's overloads cannot express
    # a node whose input schema differs from the graph's state together with a runtime.
    graph.add_node("vote", vote.cast, input_schema=VoteTask)  # type: ignore[call-overload]
    graph.add_node("decide", decide.decide)
    graph.add_node("approval", act.approval)
    graph.add_node("execute", act.execute)
    graph.add_node("await_effect", act.await_effect)
    graph.add_node("verify", act.verify)
    graph.add_node("resolve", finish.resolve)
    graph.add_node("escalate", finish.escalate)
    graph.add_node("close", finish.close)

    graph.add_edge(START, "detect")
    graph.add_conditional_edges("detect", assess.after_detect)
    graph.add_edge("wait_confirm", "detect")
    graph.add_edge("diagnose", "propose")
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
