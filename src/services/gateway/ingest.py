"""Alert ingest: a delivery (the source it was posted to, its body, its headers) in, normalised
alerts out. A route is one call::

    result = parse(source, await request.body(), request.headers, options=settings_options)

Pure: no I/O, no clock. Bad input of any kind raises :class:`~services.errors.IngestError`
naming the field (``UnknownSourceError`` for a source that does not exist,
``ContentTypeError`` for a body that says it is not JSON); the route translates those to HTTP
statuses. The route enforces the size limit before reading the body.

The AWS sources (``cloudwatch``, ``guardduty``) also take their messages inside SNS (an HTTP(S)
subscription's envelope, or the Lambda event of a topic); SNS posts ``text/plain``, so those
two accept it. Everything else must be ``application/json`` (or ``application/*+json``), or
say nothing about its type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import JsonValue

from services.errors import ContentTypeError, UnknownSourceError
from services.gateway.alerts import (
    DEFAULT_OPTIONS,
    AlertBatch,
    AlertSource,
    IngestOptions,
    IngestResult,
)
from services.gateway.sources import (
    alertmanager,
    cloudwatch,
    generic,
    grafana,
    guardduty,
    pagerduty,
    sns,
)
from services.gateway.sources.schema import decode_json

Reader = Callable[[JsonValue, IngestOptions, str], AlertBatch]

READERS: Mapping[AlertSource, Reader] = {
    AlertSource.ALERTMANAGER: alertmanager.read,
    AlertSource.GRAFANA: grafana.read,
    AlertSource.CLOUDWATCH: cloudwatch.read,
    AlertSource.GUARDDUTY: guardduty.read,
    AlertSource.PAGERDUTY: pagerduty.read,
    AlertSource.GENERIC: generic.read,
}

SNS_RECOGNISERS: Mapping[AlertSource, sns.Recognises] = {
    AlertSource.CLOUDWATCH: cloudwatch.recognises,
    AlertSource.GUARDDUTY: guardduty.recognises,
}
"""The sources whose messages may arrive inside SNS, and how to tell their messages."""


def source_of(name: str) -> AlertSource:
    """The source called ``name``, or an UnknownSourceError listing the ones there are."""
    try:
        return AlertSource(name)
    except ValueError:
        known = ", ".join(source.value for source in AlertSource)
        raise UnknownSourceError("source", f"no alert source {name!r}; known: {known}") from None


def _check_content_type(source: AlertSource, value: str | None) -> None:
    if value is None or not value.strip():
        return
    media = value.split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    if media == "text/plain" and source in SNS_RECOGNISERS:
        return
    accepted = "application/json" + (
        " (or text/plain, as SNS sends)" if source in SNS_RECOGNISERS else ""
    )
    raise ContentTypeError("headers.content-type", f"{media!r} is not JSON; send {accepted}")


def parse(
    source: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    options: IngestOptions = DEFAULT_OPTIONS,
) -> IngestResult:
    """The alerts (or the SNS subscription handshake) a delivery to ``source`` carries."""
    kind = source_of(source)
    lowered = {name.lower(): value for name, value in headers.items()}
    _check_content_type(kind, lowered.get("content-type"))
    document = decode_json(body)
    read = READERS[kind]
    recognises = SNS_RECOGNISERS.get(kind)
    if recognises is not None and sns.is_envelope(document):
        return sns.read(
            document,
            kind,
            message_type=lowered.get(sns.MESSAGE_TYPE_HEADER),
            recognises=recognises,
            inner=lambda message, at: read(message, options, at),
        )
    return read(document, options, "")
