"""Tracing plumbing: where spans go, AWS calls as spans, trace ids on log records.

The OTLP collector is a real HTTP server on loopback decoding what the exporter posts; AWS
calls go to the embedded emulator through the real botocore instrumentation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.aws.port import AwsPort
from services.tracing import (
    NO_SPAN_ID,
    NO_TRACE_ID,
    TraceContextFilter,
    install_log_correlation,
    instrument_botocore,
    tracer_provider,
    uninstrument_botocore,
)


class Collector:
    """An OTLP/HTTP traces endpoint on loopback that keeps every export request."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def span_names(self) -> list[str]:
        return [
            span.name
            for request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_an_endpoint_receives_spans_with_the_service_resource(collector: Collector) -> None:
    provider = tracer_provider(collector.url, service_name="ic-test")

    with provider.get_tracer("test").start_as_current_span("work"):
        pass
    provider.shutdown()  # flushes the batch

    assert collector.span_names() == ["work"]
    resource = collector.requests[0].resource_spans[0].resource
    attributes = {a.key: a.value.string_value for a in resource.attributes}
    assert attributes["service.name"] == "ic-test"
    assert attributes["service.version"] == version("incident-commander")


def test_without_an_endpoint_spans_have_ids_but_are_never_exported(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's own environment variables must not turn exporting on behind the settings.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.removesuffix("/v1/traces"))
    provider = tracer_provider(None)

    with provider.get_tracer("test").start_as_current_span("work") as span:
        assert span.get_span_context().is_valid
    provider.shutdown()

    assert collector.requests == []


def test_an_exporter_gets_every_span_as_it_ends() -> None:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("http://127.0.0.1:9/v1/traces", exporter=exporter)

    with provider.get_tracer("test").start_as_current_span("outer"):
        with provider.get_tracer("test").start_as_current_span("inner"):
            pass
        assert [s.name for s in exporter.get_finished_spans()] == ["inner"]

    assert [s.name for s in exporter.get_finished_spans()] == ["inner", "outer"]
    assert exporter.get_finished_spans()[0].resource.attributes["service.name"] == (
        "incident-commander"
    )


def test_tracer_provider_leaves_the_global_provider_alone() -> None:
    before = trace.get_tracer_provider()
    tracer_provider(None, exporter=InMemorySpanExporter())
    assert trace.get_tracer_provider() is before


# -- AWS calls ------------------------------------------------------------------------------------


def _traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return tracer_provider(None, exporter=exporter), exporter


@pytest.fixture
def untraced_after() -> Iterator[None]:
    """botocore is patched process-wide: leave it unpatched for the tests that follow."""
    yield
    uninstrument_botocore()


def _aws_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.attributes.get("rpc.system") == "aws-api"]


@pytest.mark.usefixtures("untraced_after")
def test_every_aws_call_is_a_span_under_the_current_one(aws: AwsPort) -> None:
    provider, exporter = _traced()
    instrument_botocore(provider)

    with provider.get_tracer("test").start_as_current_span("request") as request:
        aws.sts.get_caller_identity()

    [call] = _aws_spans(exporter)
    assert call.name == "STS.GetCallerIdentity"
    assert call.attributes["rpc.service"] == "STS"
    assert call.attributes["rpc.method"] == "GetCallerIdentity"
    assert call.attributes["cloud.region"] == aws.region
    assert call.parent is not None
    assert call.parent.span_id == request.get_span_context().span_id


@pytest.mark.usefixtures("untraced_after")
def test_instrumenting_twice_traces_once_and_the_last_provider_wins(aws: AwsPort) -> None:
    first, first_spans = _traced()
    second, second_spans = _traced()

    instrument_botocore(first)
    instrument_botocore(first)
    aws.sts.get_caller_identity()
    assert len(_aws_spans(first_spans)) == 1  # not patched twice

    instrument_botocore(second)
    aws.sts.get_caller_identity()
    assert len(_aws_spans(first_spans)) == 1
    assert len(_aws_spans(second_spans)) == 1

    uninstrument_botocore(first)  # an app that instrumented earlier shuts down
    aws.sts.get_caller_identity()
    assert len(_aws_spans(second_spans)) == 2

    uninstrument_botocore(second)
    aws.sts.get_caller_identity()
    assert len(_aws_spans(second_spans)) == 2


# -- logs -----------------------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(trace_id)s %(span_id)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    """A handler of our own on a logger of our own (pytest adds its capture handlers too)."""
    log = logging.getLogger("tests.tracing")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = _Records()
    log.addHandler(handler)
    yield handler
    log.removeHandler(handler)
    log.propagate = True


def test_log_records_carry_the_current_trace_and_span(records: _Records) -> None:
    provider, _ = _traced()
    logger = logging.getLogger("tests.tracing")
    install_log_correlation(logger)
    install_log_correlation(logger)
    handler = records
    assert sum(isinstance(f, TraceContextFilter) for f in handler.filters) == 1

    with provider.get_tracer("test").start_as_current_span("work") as span:
        logging.getLogger("tests.tracing.child").info("inside")  # propagated to the handler
    logger.info("outside")

    inside, outside = handler.records
    context = span.get_span_context()
    assert handler.format(inside) == (
        f"{trace.format_trace_id(context.trace_id)} {trace.format_span_id(context.span_id)} inside"
    )
    assert (outside.trace_id, outside.span_id) == (NO_TRACE_ID, NO_SPAN_ID)
