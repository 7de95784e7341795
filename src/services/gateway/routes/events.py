"""``GET /v1/events``: the audit trail as server-sent events, live.

Each event is one audit entry: ``event:`` its kind (``incident.opened``, ``vote``, ``decision``,
``action``, ``approval.requested``, ...), ``id:`` its sequence number, ``data:`` the entry as
JSON. A client that reconnects with ``Last-Event-ID`` (browsers' EventSource does so by itself)
gets every entry it missed, from the trail, then the live ones: nothing is lost across a
reconnect. Without it the stream starts at now; ``?after=0`` replays everything.

The first message is only ``id:`` the sequence number the stream starts after (no data, so
EventSource dispatches no event for it): a client whose stream drops before any entry arrived
still has a Last-Event-ID to resume from, and gets what it missed.

Authenticated like every route, by header: the dashboard reads the stream with ``fetch`` so
its credential never goes into a URL (where logs and proxies would keep it).

A client too slow to keep up (its queue of live entries fills) is not dropped: the stream
falls back to reading the trail from its last entry, as a reconnect would.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from services.audit import AuditEntry
from services.gateway import params, views
from services.gateway.auth import Principal
from services.gateway.deps import Gateway, GatewayDep, caller
from services.gateway.params import IncidentFilter, Seq
from services.gateway.problems import responses
from services.gateway.routes import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["events"])

QUEUE_SIZE = 1000
REPLAY_PAGE = 500
PING_S = 15


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "A stream of audit entries."},
        **responses(400, 422, s400="Last-Event-ID is not a sequence number."),
    },
)
async def stream_events(
    gateway: GatewayDep,
    principal: Annotated[Principal, caller("events.stream")],
    incident: IncidentFilter = None,
    after: Seq | None = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    if last_event_id is not None:
        start = params.last_event_id(last_event_id)
    elif after is not None:
        start = after
    else:
        start = await run_in_threadpool(gateway.trail.last_seq)
    return EventSourceResponse(_events(gateway, start, incident), ping=PING_S)


async def _events(gateway: Gateway, start: int, incident: str | None) -> AsyncIterator[Any]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[AuditEntry]] = asyncio.Queue(maxsize=QUEUE_SIZE)
    lagging = asyncio.Event()

    def offer(entries: list[AuditEntry]) -> None:
        if queue.full():
            lagging.set()
        else:
            queue.put_nowait(entries)

    # Subscribe before replaying, so nothing appended in between is missed (seq dedups).
    def on_append(entries: list[AuditEntry]) -> None:  # on the appending thread
        loop.call_soon_threadsafe(offer, entries)

    unsubscribe = gateway.feed.subscribe(on_append)
    gateway.metrics.sse_clients.inc()
    last = start
    try:
        yield ServerSentEvent(id=str(start))  # a resume point before any entry
        while True:
            async for event, seq in _replay(gateway, last, incident):
                last = seq
                yield event
            lagging.clear()
            while not lagging.is_set():
                entries = await queue.get()
                for entry in entries:
                    if entry.seq <= last:
                        continue
                    last = entry.seq
                    if incident is None or entry.incident_id == incident:
                        yield _event(entry)
            while not queue.empty():  # fell behind: read the trail from where it was
                queue.get_nowait()
    finally:
        unsubscribe()
        gateway.metrics.sse_clients.dec()


async def _replay(
    gateway: Gateway, after: int, incident: str | None
) -> AsyncIterator[tuple[ServerSentEvent, int]]:
    while True:
        batch = await run_in_threadpool(
            gateway.trail.after, after, limit=REPLAY_PAGE, incident_id=incident
        )
        for entry in batch:
            after = entry.seq
            yield _event(entry), entry.seq
        if len(batch) < REPLAY_PAGE:
            return


_ENCODED: OrderedDict[str, str] = OrderedDict()
"""Entry hash -> its JSON: every client streams the same entries, so each is encoded once. The
hash names the content (and its place in the chain), so gateways in one process cannot mix
entries up. Used on the event loop only."""
_ENCODED_MAX = 4096


def _event(entry: AuditEntry) -> ServerSentEvent:
    data = _ENCODED.get(entry.hash)
    if data is None:
        data = json.dumps(views.audit(entry).model_dump(mode="json"))
        _ENCODED[entry.hash] = data
        if len(_ENCODED) > _ENCODED_MAX:
            _ENCODED.popitem(last=False)
    return ServerSentEvent(data=data, event=entry.kind, id=str(entry.seq))
