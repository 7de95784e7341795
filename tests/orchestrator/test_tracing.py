"""Node spans from a real incident: the commander works a protected database's connection
exhaustion (detect, diagnose, five votes, an approval, the reboot, verification) with the graph
tracer in its callbacks, against the embedded AWS emulator; then the error path on a small
graph of the same shape."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agents.model import AgentName
from orchestrator.checkpoints import open_checkpointer
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger
from orchestrator.runner import catalogue_of
from orchestrator.summary import token
from orchestrator.tracing import GraphTracer, graph_callbacks
from services.aws.port import AwsPort
from services.scenario.loader import builtin_scenarios, load_scenario
from services.simulator.simulation import Simulation
from services.tracing import instrument_botocore, tracer_provider, uninstrument_botocore

SCENARIO = "payments-db-connection-exhaustion"
"""Its fix reboots a protected database: the graph pauses for a person's approval."""


class Traced:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = tracer_provider(None, exporter=self.exporter)
        self.tracer = self.provider.get_tracer("tests")

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def nodes(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith("graph.node ")]

    def ancestors(self, span: ReadableSpan) -> list[str]:
        by_id = {s.context.span_id: s for s in self.spans()}
        names: list[str] = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names


@pytest.fixture(scope="module")
def traced() -> Iterator[Traced]:
    got = Traced()
    instrument_botocore(got.provider)
    yield got
    uninstrument_botocore()  # botocore is patched process-wide


@dataclass(frozen=True)
class Worked:
    incident: str
    tasks: list[tuple[int, str, bool]]
    """What the checkpointer says ran: (step, node, paused) for each task of the thread."""


@pytest.fixture(scope="module")
def worked(aws: AwsPort, tmp_path_factory: pytest.TempPathFactory, traced: Traced) -> Worked:
    """The scenario run step by step until its one incident is finished, the approval
    granted as soon as it is asked, all inside one enclosing span ``scenario``."""
    tmp_path = tmp_path_factory.mktemp("tracing")
    scenario = load_scenario(builtin_scenarios()[SCENARIO]).scenario
    sim = Simulation(aws, scenario)
    estate = sim.setup()
    ctx = RunContext(
        port=aws,
        estate=estate,
        catalogue=catalogue_of(scenario, sim.profiles),
        ledger=ActionLedger(tmp_path / "ledger.sqlite"),
        clock=Clock(start=sim.start, step_s=scenario.step),
    )
    with (
        open_checkpointer(tmp_path / "checkpoints.sqlite") as saver,
        traced.tracer.start_as_current_span("scenario") as enclosing,
    ):
        commander = Commander(build_graph(saver), ctx, callbacks=graph_callbacks(traced.tracer))
        for report in sim.run():
            ctx.clock.step = report.index
            commander.tick()
            commander.ingest(report.events)
            for asked in commander.pending_approvals():
                incident = asked["incident_id"]
                commander.answer(incident, "grant", "on-call", token(incident, asked))
            if commander.incidents and all(i.finished for i in commander.incidents.values()):
                break
        # Every node span attached by the tracer was detached again.
        assert trace.get_current_span() is enclosing
        [incident] = commander.incidents
        assert commander.state(incident).get("status") == "resolved"
        # A checkpoint of step n lists the tasks of step n + 1.
        tasks = [
            (int(snap.metadata["step"]) + 1, task.name, bool(task.interrupts))
            for snap in commander.graph.get_state_history({"configurable": {"thread_id": incident}})
            if snap.metadata is not None
            for task in snap.tasks
            if not task.name.startswith("__")
        ]
    ctx.ledger.close()
    return Worked(incident, tasks)


def test_every_node_run_is_one_span_with_the_incident_id(worked: Worked, traced: Traced) -> None:
    ran = Counter((step, name) for step, name, _ in worked.tasks)
    paused = {(step, name) for step, name, interrupted in worked.tasks if interrupted}
    nodes = traced.nodes()

    def key(span: ReadableSpan) -> tuple[int, str]:
        return int(span.attributes["langgraph.step"]), str(span.attributes["langgraph.node"])

    finished = [s for s in nodes if not s.attributes.get("langgraph.interrupted")]
    interrupted = [s for s in nodes if s.attributes.get("langgraph.interrupted")]
    assert Counter(key(s) for s in finished) == ran
    assert {key(s) for s in interrupted} == paused
    assert {name for _, name in paused} == {"approval", "await_effect"}
    assert all(s.name == f"graph.node {s.attributes['langgraph.node']}" for s in nodes)
    assert {s.attributes["incident.id"] for s in nodes} == {worked.incident}


def test_each_agent_votes_in_a_span_of_its_own(worked: Worked, traced: Traced) -> None:
    votes = [s for s in traced.nodes() if s.attributes["langgraph.node"] == "vote"]

    assert sorted(str(s.attributes["agent.name"]) for s in votes) == sorted(
        a.value for a in AgentName
    )
    assert len({s.attributes["langgraph.step"] for s in votes}) == 1  # one round, in parallel
    assert not [s for s in traced.nodes() if s not in votes and "agent.name" in s.attributes]


def test_node_spans_nest_under_the_invoking_span_and_aws_calls_under_their_node(
    worked: Worked, traced: Traced
) -> None:
    [enclosing] = [s for s in traced.spans() if s.name == "scenario"]
    nodes = traced.nodes()

    assert {s.context.trace_id for s in nodes} == {enclosing.context.trace_id}
    for span in nodes:  # votes included, though they ran on worker threads
        assert "scenario" in traced.ancestors(span)
        assert not any(name.startswith("graph.node") for name in traced.ancestors(span))
    [reboot] = [s for s in traced.spans() if s.name == "RDS.RebootDBInstance"]
    assert traced.ancestors(reboot)[0] == "graph.node execute"


def test_a_pause_for_approval_is_not_an_error(worked: Worked, traced: Traced) -> None:
    approvals = [s for s in traced.nodes() if s.attributes["langgraph.node"] == "approval"]

    asked, answered = sorted(approvals, key=lambda s: s.start_time or 0)
    assert asked.attributes["langgraph.interrupted"] is True
    assert asked.status.status_code is StatusCode.UNSET
    assert not asked.events  # no exception recorded
    assert "langgraph.interrupted" not in answered.attributes
    assert [s for s in traced.nodes() if s.status.status_code is StatusCode.ERROR] == []


# -- failures -------------------------------------------------------------------------------------
# The incident graph has no node that fails on demand, so a small graph of the same shape
# (a fan-out with Send, a node that pauses, one that raises) shows the error path.


class _State(TypedDict):
    seen: Annotated[list[str], operator.add]


def _fan_out(state: _State) -> list[Send]:
    return [Send("work", {"agent": name}) for name in ("a", "b")]


def _work(task: dict[str, Any]) -> dict[str, Any]:
    return {"seen": [task["agent"]]}


def _ask(state: _State) -> dict[str, Any]:
    answer = interrupt("go on?")
    if answer != "yes":
        raise RuntimeError(f"told {answer!r}")
    return {"seen": ["asked"]}


def _toy_graph() -> Any:
    graph = StateGraph(_State)
    graph.add_node("start", lambda state: {})
    graph.add_node("work", _work)
    graph.add_node("ask", _ask)
    graph.add_edge(START, "start")
    graph.add_conditional_edges("start", _fan_out, ["work"])
    graph.add_edge("work", "ask")
    graph.add_edge("ask", END)
    return graph.compile(checkpointer=InMemorySaver())


def test_a_failing_node_is_an_error_span_and_the_thread_names_the_incident() -> None:
    traced = Traced()
    graph = _toy_graph()
    # One handler for every run, as the commander keeps it: each run joins its caller's trace.
    config: Any = {
        "configurable": {"thread_id": "inc-toy"},
        "callbacks": graph_callbacks(traced.tracer),
    }

    with traced.tracer.start_as_current_span("alert") as alert:
        graph.invoke({"seen": []}, config)
    with traced.tracer.start_as_current_span("answer") as answer:
        with pytest.raises(RuntimeError, match="told 'no'"):
            graph.invoke(Command(resume="no"), config)
        assert trace.get_current_span() is answer

    by_node: dict[str, list[ReadableSpan]] = {}
    for span in traced.nodes():
        by_node.setdefault(str(span.attributes["langgraph.node"]), []).append(span)
    assert sorted(str(s.attributes["agent.name"]) for s in by_node["work"]) == ["a", "b"]
    asked, failed = by_node["ask"]
    assert asked.status.status_code is StatusCode.UNSET
    assert asked.attributes["langgraph.interrupted"] is True
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "RuntimeError: told 'no'"
    assert [e.name for e in failed.events] == ["exception"]
    assert {s.attributes["incident.id"] for s in traced.nodes()} == {"inc-toy"}
    first = {s.context.trace_id for s in [*by_node["start"], *by_node["work"], asked]}
    assert first == {alert.get_span_context().trace_id}
    assert failed.context.trace_id == answer.get_span_context().trace_id


def test_routers_inside_a_node_open_no_span_of_their_own() -> None:
    traced = Traced()
    config: Any = {"configurable": {"thread_id": "t"}, "callbacks": [GraphTracer(traced.tracer)]}

    with traced.tracer.start_as_current_span("request"):
        _toy_graph().invoke({"seen": []}, config)

    # start, two works, ask (paused): the router _fan_out runs inside start's run, unspanned.
    assert sorted(s.name for s in traced.spans()) == [
        "graph.node ask", "graph.node start", "graph.node work", "graph.node work", "request",
    ]  # fmt: skip


def test_a_run_outside_any_span_is_one_trace_of_its_own() -> None:
    traced = Traced()
    graph = _toy_graph()
    config: Any = {
        "configurable": {"thread_id": "inc-bg"},
        "callbacks": [GraphTracer(traced.tracer)],
    }

    graph.invoke({"seen": []}, config)
    graph.invoke(Command(resume="yes"), config)

    runs = [s for s in traced.spans() if s.name == "graph.run"]
    assert len(runs) == 2
    assert all(s.parent is None and s.attributes["incident.id"] == "inc-bg" for s in runs)
    for run in runs:
        nodes = [s for s in traced.nodes() if s.context.trace_id == run.context.trace_id]
        assert nodes
        assert all(traced.ancestors(s) == ["graph.run"] for s in nodes)
    assert len(traced.nodes()) == 5  # start, two works, ask paused, then ask again
