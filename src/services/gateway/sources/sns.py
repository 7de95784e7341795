"""Amazon SNS deliveries, around the AWS sources' own formats: the envelope SNS posts to a
subscribed HTTP(S) endpoint, and the event a subscribed Lambda function receives
(``Records[].Sns``).

- ``SubscriptionConfirmation`` and ``UnsubscribeConfirmation`` become an
  :class:`~services.gateway.alerts.SnsSubscription` carrying the ``SubscribeURL``, which must be
  an https URL on an SNS endpoint (``sns.<region>.amazonaws.com``): the route fetches it, and
  must not be made to fetch anything else. Nothing is fetched here.
- A ``Notification``'s ``Message`` is the inner document (a CloudWatch alarm message, an
  EventBridge event a rule published), read by the source it was posted to. A message that is
  not that source's (plain text, another service's JSON) is skipped, not refused: topics are
  shared, and a refused delivery only makes SNS retry it.
- The ``x-amz-sns-message-type`` header, when present, must agree with the body's ``Type``.

Signatures are not verified here (that needs the signing certificate, fetched over the network):
``services.gateway.sns_signature`` does it in the route.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, JsonValue

from services.errors import IngestError
from services.gateway.alerts import AlertBatch, AlertSource, IngestResult, Skipped, SnsSubscription
from services.gateway.sources.schema import PascalPayload, decode_json, join, validate

MESSAGE_TYPE_HEADER = "x-amz-sns-message-type"
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\Z")

Recognises = Callable[[JsonValue], bool]
Reader = Callable[[JsonValue, str], AlertBatch]


class Envelope(PascalPayload):
    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    message_id: str
    topic_arn: str
    message: str
    token: str | None = None
    subscribe_url: str | None = Field(
        None, validation_alias=AliasChoices("SubscribeURL", "SubscribeUrl")
    )


class LambdaRecord(PascalPayload):
    event_source: Literal["aws:sns"]
    sns: Envelope


class LambdaEvent(PascalPayload):
    records: list[LambdaRecord] = Field(min_length=1)


def is_envelope(document: JsonValue) -> bool:
    """True when ``document`` is an SNS envelope or a Lambda SNS event, not a bare message."""
    if not isinstance(document, dict):
        return False
    return "Records" in document or (document.get("Type") in TYPES and "TopicArn" in document)


def is_sns_url(url: str) -> bool:
    """True for an https URL on an SNS endpoint: the only URL a subscription may name."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and host is not None
        and parts.port in (None, 443)
        and not parts.username
        and _SNS_HOST.match(host) is not None
    )


def _notification(
    envelope: Envelope, at: str, source: AlertSource, recognises: Recognises, inner: Reader
) -> AlertBatch:
    if envelope.type != "Notification":
        reason = f"a {envelope.type} delivered to Lambda carries no alert"
        return AlertBatch(source=source, skipped=(Skipped(path=join(at, "Type"), reason=reason),))
    at_message = join(at, "Message")
    try:
        message = decode_json(envelope.message, at_message)
    except IngestError as exc:
        reason = f"not a {source.value} alert ({exc.message})"
        return AlertBatch(source=source, skipped=(Skipped(path=at_message, reason=reason),))
    if not recognises(message):
        reason = f"not a {source.value} alert"
        return AlertBatch(source=source, skipped=(Skipped(path=at_message, reason=reason),))
    return inner(message, at_message)


def _subscription(
    envelope: Envelope,
    kind: Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"],
    source: AlertSource,
) -> SnsSubscription:
    if not envelope.token:
        raise IngestError("Token", f"required in a {envelope.type}")
    if not envelope.subscribe_url:
        raise IngestError("SubscribeURL", f"required in a {envelope.type}")
    if not is_sns_url(envelope.subscribe_url):
        raise IngestError(
            "SubscribeURL", "not an SNS endpoint (https://sns.<region>.amazonaws.com/...)"
        )
    return SnsSubscription(
        source=source,
        message_type=kind,
        topic_arn=envelope.topic_arn,
        subscribe_url=envelope.subscribe_url,
        token=envelope.token,
        message_id=envelope.message_id,
    )


def read(
    document: JsonValue,
    source: AlertSource,
    *,
    message_type: str | None,
    recognises: Recognises,
    inner: Reader,
) -> IngestResult:
    """What an SNS delivery carries: a subscription handshake, or the alerts in its messages.

    ``message_type`` is the ``x-amz-sns-message-type`` header; ``recognises`` says whether a
    message is the source's, and ``inner`` reads it (given the message's path for errors).
    """
    if isinstance(document, dict) and "Records" in document:
        event = validate(LambdaEvent, document)
        batch = AlertBatch(source=source)
        for index, record in enumerate(event.records):
            at = join("Records", index, "Sns")
            batch += _notification(record.sns, at, source, recognises, inner)
        return batch
    envelope = validate(Envelope, document)
    if message_type is not None and message_type != envelope.type:
        raise IngestError(
            f"headers.{MESSAGE_TYPE_HEADER}",
            f"says {message_type!r} but the body's Type is {envelope.type!r}",
        )
    kind = envelope.type
    if kind == "Notification":
        return _notification(envelope, "", source, recognises, inner)
    return _subscription(envelope, kind, source)
