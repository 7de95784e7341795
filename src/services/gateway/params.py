"""What the routes accept as parameters, validated at the edge: a value out of range, of the
wrong shape or not in a closed set is a 422 naming the field (a ``Problem``), never a 500
from deeper down and never a silent empty answer.

``MAX_SEQ`` bounds every sequence number: the audit trail keeps them as SQLite and
PostgreSQL 64-bit integers, which refuse anything larger with an ``OverflowError``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import Path, Query

from orchestrator.state import Status
from services.errors import BadRequestError

MAX_SEQ = 2**63 - 1
"""The largest audit sequence number: a signed 64-bit integer."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
"""What an id can look like (``inc-3f2a...``): letters, digits and ``._:-``, up to 100
characters. Ids are looked up, never parsed; the pattern keeps control characters (which
PostgreSQL refuses in text) and junk out of the stores."""

Seq = Annotated[int, Query(ge=0, le=MAX_SEQ, description="entries after this sequence number")]
IncidentId = Annotated[str, Path(pattern=ID_PATTERN, description="an incident's id")]
IncidentFilter = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="only entries of this incident")
]
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""Free text in a query: anything but control characters."""
ServiceFilter = Annotated[
    str | None, Query(max_length=200, pattern=TEXT_PATTERN, description="only this service's")
]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="an API key's id")]

IncidentStatus = Status
Severity = Literal["sev1", "sev2", "sev3", "sev4"]
"""``agents.model.Severity``: the gateway does not import the agents."""

_LAST_EVENT_ID = re.compile(r"[0-9]{1,19}")


def last_event_id(header: str) -> int:
    """The sequence number a ``Last-Event-ID`` header names; ``BadRequestError`` for anything
    that is not one this API could have sent (not ASCII digits, or past ``MAX_SEQ``)."""
    text = header.strip()
    if _LAST_EVENT_ID.fullmatch(text) is None or int(text) > MAX_SEQ:
        raise BadRequestError("Last-Event-ID", "must be the id of an event this API sent")
    return int(text)
