"""Paging in a cluster: of two worker processes' notifiers, the one holding the lease pages, and
when it stops the other takes over from the cursor in Postgres, repeating nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clusterkit import POSTGRES, REDIS, require_services
from orchestrator import journal
from orchestrator.state import Alert
from receiverkit import Receiver, Reply, receiving
from services.cluster.paging import run_notifier
from services.cluster.parts import ClusterParts, open_cluster
from services.pg.audit import PgAuditTrail
from services.pg.cursor import PgCursor
from services.settings import Settings


def _escalated(incident: str) -> list[Any]:
    alert = Alert(
        fingerprint=f"am:{incident}", source="alertmanager", service="checkout",
        summary="checkout 5xx above SLO", step=3, fault_hint=None, details={},
    )  # fmt: skip
    values = {"status": "escalated", "severity": "sev1", "services": ["checkout"], "round": 1}
    return [journal.opened(incident, alert), *journal.thread(incident, values, None, {})]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving(Reply(200)) as receiver:
        yield receiver


@pytest.fixture
def parts(hook: Receiver) -> Iterator[ClusterParts]:
    require_services(REDIS)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, redis_url=REDIS, postgres_url=POSTGRES,
        postgres_schema=f"ic_test_{uuid.uuid4().hex[:10]}", estate=f"t{uuid.uuid4().hex[:8]}",
        webhook_url=hook.url, webhook_secret="s" * 32, lease_ttl_s=1.5,
    )  # fmt: skip
    with open_cluster(settings) as opened:
        yield opened


def _wait(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_one_notifier_pages_for_the_cluster_and_a_standby_goes_on_from_its_cursor(
    parts: ClusterParts, hook: Receiver
) -> None:
    trail = PgAuditTrail(parts.pool)
    stops = {name: threading.Event() for name in ("w1", "w2")}
    threads = {
        name: threading.Thread(
            target=run_notifier, args=(parts,), kwargs={"name": name, "stop": stop}, daemon=True
        )
        for name, stop in stops.items()
    }
    for thread in threads.values():
        thread.start()
    try:
        time.sleep(0.5)  # one takes the lease and reads the trail's head as its start
        trail.append(_escalated("inc-one"))
        _wait("the first page", lambda: len(hook.received) == 1)

        holder = next(n for n in stops if _holds(parts, n))
        stops[holder].set()
        threads[holder].join(10)
        trail.append(_escalated("inc-two"))
        _wait("the standby's page", lambda: len(hook.received) == 2)
        cursor = PgCursor(parts.pool, scope=str(parts.settings.postgres_schema))
        _wait("the shared cursor at the trail's end", lambda: cursor.load() == trail.last_seq())
        time.sleep(1.0)  # nothing more comes: the first page is not sent again
    finally:
        for stop in stops.values():
            stop.set()
        for thread in threads.values():
            thread.join(10)
        trail.close()
    assert [body["incident_id"] for body in hook.bodies()] == ["inc-one", "inc-two"]


def _holds(parts: ClusterParts, name: str) -> bool:
    token = parts.redis.get(f"ic:lease:notifier:{parts.settings.postgres_schema}")
    return token is not None and token.decode().startswith(f"{name}:")
