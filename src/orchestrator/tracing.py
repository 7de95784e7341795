"""Spans for the incident graph, one per node run, through LangChain's callback seam.

``GraphTracer`` is passed in the run's ``config["callbacks"]`` (``graph_callbacks``); the node
functions are not wrapped. Every node run becomes a span ``graph.node <node>`` with
``incident.id``, ``langgraph.node`` and ``langgraph.step``; a vote (one per agent, fanned out
with ``Send``) also carries ``agent.name``. Spans nest under the span that was current where
the graph was invoked (an HTTP request, a ``commander.invoke`` span), found by the run tree
(``parent_run_id``) rather than by the thread a callback runs on, since parallel votes run
on worker threads. An invocation outside any span (a background loop stepping the estate)
gets a root span ``graph.run`` of its own, so that its nodes still share one trace.

While a node runs, its span is also the current span of the node's own context, so that
what the node does (AWS calls through the botocore instrumentation, log records) nests under
it. A node that pauses with ``interrupt()`` (an approval, a wait) ends its span without error,
with ``langgraph.interrupted=true``; the node runs again, in a new span, when resumed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import Token
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.errors import GraphBubbleUp, GraphInterrupt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

_NODE_TAG = "graph:step:"
"""LangGraph tags the run of each node task (not the routers and writers inside it) with it."""


@dataclass(slots=True)
class _Run:
    span: Span
    """The node's own span, or for any other run the span its children nest under."""
    owned: bool
    token: Token[otel_context.Context] | None = None
    thread: int | None = None


class GraphTracer(BaseCallbackHandler):
    """Opens a span per graph node run. One handler serves any number of invocations and
    threads; it never raises into the graph (LangChain logs a failing callback)."""

    run_inline = True
    """Callbacks run in the node's own thread and context (matters for async runs)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self._lock = threading.Lock()
        self._runs: dict[UUID, _Run] = {}

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        meta = metadata or {}
        node = meta.get("langgraph_node")
        is_node = isinstance(node, str) and any(t.startswith(_NODE_TAG) for t in tags or ())
        if parent is not None:
            parent_span = parent.span
        else:  # a graph invocation: it nests under the caller's span
            parent_span = trace.get_current_span()
            if not is_node and not parent_span.get_span_context().is_valid:
                # Invoked outside any span (a background loop): a root span of its own keeps
                # the invocation's nodes in one trace.
                run = _Run(
                    self.tracer.start_span("graph.run", attributes=_incident(inputs, meta)),
                    owned=True,
                )
                with self._lock:
                    self._runs[run_id] = run
                return
        if not is_node:
            with self._lock:
                self._runs[run_id] = _Run(parent_span, owned=False)
            return
        span = self.tracer.start_span(
            f"graph.node {node}",
            context=trace.set_span_in_context(parent_span),
            attributes=_attributes(str(node), inputs, meta),
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        with self._lock:
            self._runs[run_id] = _Run(span, owned=True, token=token, thread=threading.get_ident())

    def on_chain_end(self, outputs: dict[str, Any] | Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._pop(run_id)
        if run is not None and run.owned:
            self._finish(run)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._pop(run_id)
        if run is None or not run.owned:
            return
        if isinstance(error, GraphInterrupt):
            run.span.set_attribute("langgraph.interrupted", True)
        elif not isinstance(error, GraphBubbleUp):  # other bubble-ups are control flow too
            run.span.record_exception(error)
            run.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        self._finish(run)

    def _pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def _finish(self, run: _Run) -> None:
        # Detach only where the span was attached and is still current: LangGraph ends a node
        # run in the frame that started it, but a mismatched detach would corrupt the context.
        if (
            run.token is not None
            and run.thread == threading.get_ident()
            and trace.get_current_span() is run.span
        ):
            otel_context.detach(run.token)
        run.span.end()


def _incident(inputs: Any, meta: Mapping[str, Any]) -> dict[str, str | int]:
    """``incident.id``: the state's (or vote task's) incident, else the thread's id."""
    incident = inputs.get("incident_id") if isinstance(inputs, Mapping) else None
    if incident is None:
        incident = meta.get("thread_id")
    return {} if incident is None else {"incident.id": str(incident)}


def _attributes(node: str, inputs: Any, meta: Mapping[str, Any]) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {"langgraph.node": node, **_incident(inputs, meta)}
    step = meta.get("langgraph_step")
    if isinstance(step, int):
        attributes["langgraph.step"] = step
    pushed = "__pregel_push" in meta.get("langgraph_triggers", ())
    if pushed and isinstance(inputs, Mapping) and isinstance(inputs.get("agent"), str):
        attributes["agent.name"] = inputs["agent"]
    return attributes


def graph_callbacks(tracer: Tracer) -> list[BaseCallbackHandler]:
    """The callbacks to pass as ``config["callbacks"]`` to trace a graph run."""
    return [GraphTracer(tracer)]
