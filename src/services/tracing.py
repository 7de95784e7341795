"""OpenTelemetry tracing: the tracer provider, AWS calls as spans, trace ids on log records.

- ``tracer_provider`` builds an SDK provider for one process: exporting to an OTLP/HTTP
  collector, to an exporter the caller hands in (tests: ``InMemorySpanExporter``), or nowhere
  (spans and trace ids still exist, so logs correlate, but nothing leaves the process). It never
  touches the global provider: callers pass it where spans are made.
- ``instrument_botocore`` makes every boto3/botocore call a span (``rpc.service``,
  ``rpc.method``, ``cloud.region``, ``aws.request_id``...) under whatever span is current.
- ``TraceContextFilter`` / ``install_log_correlation`` put ``trace_id`` and ``span_id`` on
  every log record, for formats such as ``%(trace_id)s``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from importlib.metadata import PackageNotFoundError, version

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

DISTRIBUTION = "incident-commander"
NO_TRACE_ID = "0" * 32
NO_SPAN_ID = "0" * 16


def tracer_provider(
    endpoint: str | None,
    *,
    service_name: str = "incident-commander",
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """An SDK tracer provider for ``service_name``.

    With ``exporter``, every span is handed to it as it ends (synchronously: for tests and
    debugging). Otherwise, with ``endpoint`` (an OTLP/HTTP traces URL such as
    ``http://collector:4318/v1/traces``), spans are batched to it in the background. With
    neither, spans are recorded and dropped. Call ``shutdown()`` on the provider when done to
    flush what is batched.
    """
    attributes: dict[str, str] = {SERVICE_NAME: service_name}
    with contextlib.suppress(PackageNotFoundError):  # running from a source tree
        attributes[SERVICE_VERSION] = version(DISTRIBUTION)
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif endpoint:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


_botocore_lock = threading.Lock()
_botocore_provider: TracerProvider | None = None


def instrument_botocore(provider: TracerProvider) -> None:
    """Trace every botocore call (hence every boto3 client) in the process to ``provider``.

    The instrumentation patches botocore itself, once per process: there is one target
    provider at a time. Calling again with the same provider does nothing; calling with another
    provider re-targets the patch, so the provider instrumented last receives every AWS span
    of the process, including those of clients created before (two apps in one test process:
    the second one gets them). ``uninstrument_botocore`` removes the patch.
    """
    global _botocore_provider
    with _botocore_lock:
        instrumentor = _botocore()
        if instrumentor.is_instrumented_by_opentelemetry:
            if _botocore_provider is provider:
                return
            instrumentor.uninstrument()  # someone else's provider, or an earlier one of ours
        instrumentor.instrument(tracer_provider=provider)
        _botocore_provider = provider


def uninstrument_botocore(provider: TracerProvider | None = None) -> None:
    """Undo ``instrument_botocore`` (shutdown, tests). With ``provider``, only while botocore
    still reports to it: an app shutting down leaves the patch of one instrumented after it."""
    global _botocore_provider
    with _botocore_lock:
        if provider is not None and _botocore_provider is not provider:
            return
        instrumentor = _botocore()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        _botocore_provider = None


def _botocore() -> BotocoreInstrumentor:
    """The process-wide instrumentor (``BaseInstrumentor`` is a singleton)."""
    return BotocoreInstrumentor()  # type: ignore[no-untyped-call]  # untyped __init__


class TraceContextFilter(logging.Filter):
    """Sets ``record.trace_id`` and ``record.span_id`` (lowercase hex) from the span current
    where the record is made; all zeros outside any span. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
        else:
            record.trace_id = NO_TRACE_ID
            record.span_id = NO_SPAN_ID
        return True


def install_log_correlation(logger: logging.Logger | None = None) -> None:
    """Add a ``TraceContextFilter`` to every handler of ``logger`` (the root logger by
    default) that has none yet.

    Handler filters see records propagated from every child logger, which logger filters do
    not; so call this after logging is configured (handlers added later get no filter).
    """
    target = logger if logger is not None else logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, TraceContextFilter) for f in handler.filters):
            handler.addFilter(TraceContextFilter())
