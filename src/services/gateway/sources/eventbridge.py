"""The EventBridge event envelope AWS services deliver their events in (an API destination, or
an SNS topic a rule targets). The ``detail`` is each service's own; the sources read it.
"""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, JsonValue

from services.errors import IngestError
from services.gateway.sources.schema import Payload, UtcTime, join, json_type, validate, where

DetailT = TypeVar("DetailT", bound=BaseModel)


class EventBridgeEvent(Payload, Generic[DetailT]):
    version: str = "0"
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: UtcTime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: DetailT


EventT = TypeVar("EventT", bound=EventBridgeEvent[Any])


def is_event(document: JsonValue, detail_type: str) -> bool:
    """True when ``document`` is an EventBridge event of ``detail_type``."""
    return isinstance(document, dict) and document.get("detail-type") == detail_type


def read_event(document: JsonValue, detail_type: str, model: type[EventT], at: str = "") -> EventT:
    """``document`` as an event of ``detail_type``; an event of another type is an error that
    says which it is, so a rule pointed at the wrong endpoint is easy to see."""
    if isinstance(document, dict) and "detail-type" in document:
        found = document["detail-type"]
        if found != detail_type:
            got = json.dumps(found) if isinstance(found, str) else json_type(found)
            raise IngestError(
                join(at, "detail-type"),
                f'expected "{detail_type}", got {got}; this endpoint takes no other events',
            )
    elif isinstance(document, dict):
        raise IngestError(where(join(at, "detail-type")), "required")
    return validate(model, document, at)
