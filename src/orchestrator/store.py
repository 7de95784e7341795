"""Where incident summaries are kept for the incident list, and how the list is paged.

The commander writes a summary each time an incident's thread moves (:meth:`IncidentStore.put`);
the gateway lists them (:meth:`IncidentStore.page`) and counts them for its metrics
(:meth:`IncidentStore.counts`). One process keeps them in a dict
(:class:`MemoryIncidentStore`); several gateways and workers share
``services.pg.incidents.PgIncidentStore``. Both page the same way, so a client cannot tell
which one answered:

- newest first, by ``(opened_at, id)`` descending: ``id`` breaks ties between incidents opened
  at the same instant (a simulated clock has whole steps), so the order is total;
- ``statuses``, ``severities``: an incident matches when its status (severity) is in the set;
  an empty set does not filter. An incident without a severity matches no severity filter;
- ``service``: the incident touches that service;
- ``cursor``: keyset pagination. It is the URL-safe base64 (unpadded) of the JSON
  ``[opened_at ISO 8601, id]`` of the last incident of the previous page, and the next page
  starts strictly after it, so incidents opened or updated while a client pages never shift
  what it sees into duplicates or gaps (a summary put again keeps its ``opened_at``). A cursor
  that does not decode is :class:`~services.errors.BadRequestError` (HTTP 400).

Times are timezone-aware: Postgres keeps ``timestamptz``, and an aware and a naive time cannot
be ordered, so :meth:`IncidentStore.put` refuses a naive one.

:func:`summary_to_json` / :func:`summary_from_json` carry a summary through JSON without loss:
datetimes (also inside ``pending_approval``) and tuples are tagged (``{"$datetime": iso}``,
``{"$tuple": [...]}``) so they come back as they went in.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from orchestrator.summary import IncidentSummary
from services.errors import BadRequestError

Counts = dict[tuple[str, str | None], int]


class IncidentStore(Protocol):
    """The incident list's store: summaries by id, paged newest first."""

    def put(self, summary: IncidentSummary) -> None:
        """Store ``summary``, replacing the one with its id."""
        ...

    def get(self, incident_id: str) -> IncidentSummary | None: ...

    def page(
        self,
        *,
        statuses: set[str],
        severities: set[str],
        service: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[IncidentSummary], str | None]:
        """Up to ``limit`` summaries and the cursor of the next page (``None``: the last)."""
        ...

    def counts(self) -> Counts:
        """How many incidents there are per ``(status, severity)``."""
        ...


class MemoryIncidentStore:
    """Summaries in a dict: the single-process default. Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, IncidentSummary] = {}

    def put(self, summary: IncidentSummary) -> None:
        check_times(summary)
        with self._lock:
            self._by_id[summary.id] = summary

    def get(self, incident_id: str) -> IncidentSummary | None:
        with self._lock:
            return self._by_id.get(incident_id)

    def page(
        self,
        *,
        statuses: set[str],
        severities: set[str],
        service: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[IncidentSummary], str | None]:
        with self._lock:
            summaries = list(self._by_id.values())
        return page_of(
            summaries,
            statuses=statuses,
            severities=severities,
            service=service,
            limit=limit,
            cursor=cursor,
        )

    def counts(self) -> Counts:
        counts: Counts = {}
        with self._lock:
            for summary in self._by_id.values():
                key = (summary.status, summary.severity)
                counts[key] = counts.get(key, 0) + 1
        return counts


def page_of(
    summaries: Iterable[IncidentSummary],
    *,
    statuses: set[str],
    severities: set[str],
    service: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[IncidentSummary], str | None]:
    """One page of ``summaries`` as the module docstring describes; pure."""
    check_limit(limit)
    after = decode_cursor(cursor) if cursor else None
    chosen = [
        s
        for s in summaries
        if (not statuses or s.status in statuses)
        and (not severities or s.severity in severities)
        and (service is None or service in s.services)
        and (after is None or (s.opened_at, s.id) < after)
    ]
    chosen.sort(key=lambda s: (s.opened_at, s.id), reverse=True)
    items = chosen[:limit]
    more = len(chosen) > limit
    return items, (encode_cursor(items[-1]) if more else None)


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def check_times(summary: IncidentSummary) -> None:
    """``ValueError`` when a time of ``summary`` is naive (see the module docstring)."""
    for name in ("opened_at", "updated_at"):
        if getattr(summary, name).utcoffset() is None:
            raise ValueError(f"incident {summary.id}: {name} is a naive datetime")


def encode_cursor(summary: IncidentSummary) -> str:
    """The cursor of the page that follows ``summary``."""
    blob = json.dumps([summary.opened_at.isoformat(), summary.id]).encode()
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """``(opened_at, id)`` after which a page starts; ``BadRequestError`` for anything this
    module did not encode."""
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, incident_id = json.loads(blob)
        opened_at = datetime.fromisoformat(at)
        if (
            not isinstance(incident_id, str)
            or not incident_id.isprintable()  # PostgreSQL refuses NUL in text
            or opened_at.utcoffset() is None
        ):
            raise ValueError("not a cursor of this module")
        return opened_at, incident_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequestError("cursor", "not a cursor this API gave out") from exc


# -- summaries as JSON -------------------------------------------------------------------------


def summary_to_json(summary: IncidentSummary) -> dict[str, Any]:
    """``summary`` as JSON-ready values; :func:`summary_from_json` gives it back, equal."""
    return {
        "id": summary.id,
        "status": summary.status,
        "severity": summary.severity,
        "title": summary.title,
        "services": list(summary.services),
        "opened_at": summary.opened_at.isoformat(),
        "updated_at": summary.updated_at.isoformat(),
        "alerts": summary.alerts,
        "acknowledged_by": summary.acknowledged_by,
        "pending_approval": _tagged(summary.pending_approval),
        "time_to_detect_s": summary.time_to_detect_s,
        "time_to_resolve_s": summary.time_to_resolve_s,
        "duplicate_of": summary.duplicate_of,
        "kind": summary.kind,
        "reason": summary.reason,
        "headline": summary.headline,
    }


def summary_from_json(value: dict[str, Any]) -> IncidentSummary:
    pending = _untagged(value["pending_approval"])
    return IncidentSummary(
        id=value["id"],
        status=value["status"],
        severity=value["severity"],
        title=value["title"],
        services=tuple(value["services"]),
        opened_at=datetime.fromisoformat(value["opened_at"]),
        updated_at=datetime.fromisoformat(value["updated_at"]),
        alerts=value["alerts"],
        acknowledged_by=value["acknowledged_by"],
        pending_approval=pending,
        time_to_detect_s=value["time_to_detect_s"],
        time_to_resolve_s=value["time_to_resolve_s"],
        # absent from summaries stored before they were:
        duplicate_of=value.get("duplicate_of"),
        kind=value.get("kind", "incident"),
        reason=value.get("reason"),
        headline=value.get("headline", value["title"]),
    )


def _tagged(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [_tagged(item) for item in value]}
    if isinstance(value, list):
        return [_tagged(item) for item in value]
    if isinstance(value, dict):
        return {key: _tagged(item) for key, item in value.items()}
    return value


def _untagged(value: Any) -> Any:
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    if isinstance(value, dict):
        if value.keys() == {"$datetime"}:
            return datetime.fromisoformat(value["$datetime"])
        if value.keys() == {"$tuple"}:
            return tuple(_untagged(item) for item in value["$tuple"])
        return {key: _untagged(item) for key, item in value.items()}
    return value
