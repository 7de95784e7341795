"""The incident store's contract, run against the in-memory store and the Postgres one alike:
filters, keyset paging, cursors, upserts, counts, and a summary's round trip."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator.store import (
    IncidentStore,
    MemoryIncidentStore,
    summary_from_json,
    summary_to_json,
)
from orchestrator.summary import IncidentSummary
from services.errors import BadRequestError
from services.pg.incidents import PgIncidentStore
from services.pg.pool import Pool

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))
STATUSES = ("open", "confirmed", "mitigating", "awaiting_approval", "resolved", "escalated")
SEVERITIES = ("sev1", "sev2", "sev3", "sev4", None)
SERVICES = ("checkout", "payments", "search", "cart", "auth", "catalog")


def summary(n: int, **changes: object) -> IncidentSummary:
    """Incident ``n``: opened every 30 s, but three at a time share an instant (ties on
    ``opened_at`` are broken by id)."""
    base = IncidentSummary(
        id=f"inc-{n:04d}",
        status=STATUSES[n % len(STATUSES)],
        severity=SEVERITIES[n % len(SEVERITIES)],
        title=f"incident {n}",
        services=(SERVICES[n % len(SERVICES)], SERVICES[(n * 7 + 1) % len(SERVICES)]),
        opened_at=T0 + timedelta(seconds=30 * (n // 3)),
        updated_at=T0 + timedelta(seconds=30 * (n // 3) + 5),
        alerts=1 + n % 4,
        acknowledged_by=None,
        pending_approval=None,
        time_to_detect_s=None,
        time_to_resolve_s=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[IncidentStore]:
    if request.param == "memory":
        yield MemoryIncidentStore()
    else:
        pool: Pool = request.getfixturevalue("pool")
        yield PgIncidentStore(pool, estate="est-a")


def everything(store: IncidentStore, limit: int, **filters: object) -> list[str]:
    """Every page from the first to the last, as ids; fails on a repeat."""
    query: dict[str, object] = {"statuses": set(), "severities": set(), "service": None}
    query.update(filters)
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        items, cursor = store.page(limit=limit, cursor=cursor, **query)  # type: ignore[arg-type]
        assert len(items) <= limit
        ids += [s.id for s in items]
        if cursor is None:
            break
        assert len(items) == limit  # a cursor is given only when a page is full
    assert len(ids) == len(set(ids)), "a summary was listed twice"
    return ids


def expected(summaries: list[IncidentSummary], **filters: object) -> list[str]:
    statuses = filters.get("statuses") or set()
    severities = filters.get("severities") or set()
    service = filters.get("service")
    chosen = [
        s
        for s in summaries
        if (not statuses or s.status in statuses)  # type: ignore[operator]
        and (not severities or s.severity in severities)  # type: ignore[operator]
        and (service is None or service in s.services)
    ]
    return [s.id for s in sorted(chosen, key=lambda s: (s.opened_at, s.id), reverse=True)]


def test_a_summary_comes_back_equal_with_its_times_and_approval(store: IncidentStore) -> None:
    waiting = summary(
        7,
        status="awaiting_approval",
        acknowledged_by="alice",
        pending_approval={
            "candidate": {"id": "c1", "action": "rollback", "params": {"to": "v41"}},
            "hash": "ab" * 32,
            "rule": "tier1-needs-human",
            "asked_at": T0 + timedelta(minutes=3),
            "expires_at": datetime(
                2026, 3, 1, 14, 15, 0, 123456, tzinfo=timezone(timedelta(hours=2))
            ),
            "path": ("a", 1),
        },
        time_to_detect_s=90.0,
        time_to_resolve_s=1e-7,
    )
    store.put(waiting)

    got = store.get("inc-0007")

    assert got == waiting
    assert got is not None
    assert isinstance(got.pending_approval, dict)
    assert got.pending_approval["expires_at"] == waiting.pending_approval["expires_at"]  # type: ignore[index]
    assert got.pending_approval["path"] == ("a", 1)
    assert store.get("inc-9999") is None
    assert summary_from_json(json.loads(json.dumps(summary_to_json(waiting)))) == waiting


def test_a_duplicate_keeps_the_incident_it_closed_into_and_older_rows_read_without_it(
    store: IncidentStore,
) -> None:
    store.put(summary(3, status="closed", duplicate_of="inc-0001"))
    got = store.get("inc-0003")
    assert got is not None
    assert got.duplicate_of == "inc-0001"
    stored_before = summary_to_json(summary(4))
    del stored_before["duplicate_of"]  # a row written before the field existed
    assert summary_from_json(stored_before).duplicate_of is None


def test_a_triage_incident_keeps_its_kind_and_reason_and_older_rows_read_as_incidents(
    store: IncidentStore,
) -> None:
    why = "no service of the estate matches this grafana alert: escalated to on-call"
    store.put(summary(5, status="escalated", services=(), kind="triage", reason=why))
    got = store.get("inc-0005")
    assert got is not None
    assert (got.kind, got.reason, got.services) == ("triage", why, ())
    stored_before = summary_to_json(summary(6))
    del stored_before["kind"], stored_before["reason"]  # a row written before the fields
    assert (summary_from_json(stored_before).kind, summary_from_json(stored_before).reason) == (
        "incident",
        None,
    )


def test_put_replaces_the_summary_with_that_id(store: IncidentStore) -> None:
    store.put(summary(1, status="open", severity=None))
    store.put(summary(2))
    store.put(summary(1, status="resolved", severity="sev2", time_to_resolve_s=600.0))

    assert store.get("inc-0001") == summary(
        1, status="resolved", severity="sev2", time_to_resolve_s=600.0
    )
    assert everything(store, 10) == ["inc-0002", "inc-0001"]
    assert everything(store, 10, statuses={"open"}) == []
    assert store.counts() == {("resolved", "sev2"): 1, (summary(2).status, "sev3"): 1}


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"statuses": {"open"}},
        {"statuses": {"open", "confirmed", "awaiting_approval"}},
        {"severities": {"sev1"}},
        {"severities": {"sev1", "sev2"}, "statuses": {"open", "mitigating", "resolved"}},
        {"service": "payments"},
        {"service": "payments", "statuses": {"resolved"}},
        {"service": "no-such-service"},
        {"statuses": {"no-such-status"}},
    ],
    ids=lambda f: (
        ",".join(f"{k}={sorted(v) if isinstance(v, set) else v}" for k, v in f.items()) or "none"
    ),
)
@pytest.mark.parametrize("limit", [1, 7, 50])
def test_paging_lists_every_match_once_newest_first(
    store: IncidentStore, filters: dict[str, object], limit: int
) -> None:
    summaries = [summary(n) for n in range(60)]
    for s in random.Random(6).sample(summaries, len(summaries)):
        store.put(s)

    assert everything(store, limit, **filters) == expected(summaries, **filters)


def test_an_incident_without_severity_matches_no_severity_filter(store: IncidentStore) -> None:
    store.put(summary(1, severity=None))
    store.put(summary(2, severity="sev4"))

    assert everything(store, 5, severities={"sev4"}) == ["inc-0002"]
    assert everything(store, 5) == ["inc-0002", "inc-0001"]
    assert store.counts() == {(summary(1).status, None): 1, (summary(2).status, "sev4"): 1}


def test_a_page_continues_after_the_cursor_when_incidents_arrive_meanwhile(
    store: IncidentStore,
) -> None:
    for n in range(10):
        store.put(summary(n))
    first, cursor = store.page(statuses=set(), severities=set(), service=None, limit=4, cursor=None)
    store.put(summary(100))  # newer than everything: belongs on page one, not on page two
    store.put(summary(5, status="resolved"))  # updated, same opened_at: stays where it was

    second, _ = store.page(statuses=set(), severities=set(), service=None, limit=4, cursor=cursor)

    assert [s.id for s in first] == ["inc-0009", "inc-0008", "inc-0007", "inc-0006"]
    assert [s.id for s in second] == ["inc-0005", "inc-0004", "inc-0003", "inc-0002"]
    assert second[0].status == "resolved"


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "inc-1"]').decode(),
        base64.urlsafe_b64encode(b'["2026-03-01T12:00:00", "inc-1"]').decode(),  # naive
        base64.urlsafe_b64encode(b'["2026-03-01T12:00:00+00:00", 7]').decode(),
        base64.urlsafe_b64encode(b'["2026-03-01T12:00:00+00:00", "a", "b"]').decode(),
        "\u00e9t\u00e9",
    ],
)
def test_a_cursor_this_api_did_not_give_out_is_a_bad_request(
    store: IncidentStore, cursor: str
) -> None:
    store.put(summary(1))
    with pytest.raises(BadRequestError, match="not a cursor this API gave out") as raised:
        store.page(statuses=set(), severities=set(), service=None, limit=5, cursor=cursor)
    assert raised.value.field == "cursor"


def test_limits_below_one_and_naive_times_are_refused(store: IncidentStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.page(statuses=set(), severities=set(), service=None, limit=0, cursor=None)
    with pytest.raises(ValueError, match="naive"):
        store.put(summary(1, opened_at=datetime(2026, 3, 1, 12, 0)))
    assert store.get("inc-0001") is None


def test_estates_sharing_a_table_do_not_see_each_other(pool: Pool) -> None:
    a, b = PgIncidentStore(pool, estate="est-a"), PgIncidentStore(pool, estate="est-b")
    a.put(summary(1))
    b.put(summary(1, title="same id, other estate"))
    b.put(summary(2))

    assert a.get("inc-0001") == summary(1)
    assert b.get("inc-0001") == summary(1, title="same id, other estate")
    assert everything(a, 10) == ["inc-0001"]
    assert sum(b.counts().values()) == 2
