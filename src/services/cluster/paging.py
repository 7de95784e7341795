"""Paging in a cluster: one notifier per cluster schema, in whichever worker holds its lease.

Every worker process runs :func:`run_notifier` beside its estate worker. The one that takes the
lease ``ic:lease:notifier:<schema>`` follows the shared audit trail (every estate of the schema
writes there) with its cursor in Postgres (``services.pg.cursor``); the others stand by and take
over when its lease runs out, going on from the cursor. A notice already recorded as sent is not
sent again (``services.notify.notifier``), so a takeover repeats nothing it can see.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from services.aws.resources import ServiceProfile
from services.cluster.locks import Lease
from services.cluster.parts import ClusterParts
from services.notify import channels_configured, open_notifier
from services.pg.audit import PgAuditTrail
from services.pg.cursor import PgCursor

log = logging.getLogger(__name__)


def run_notifier(parts: ClusterParts, *, name: str, stop: threading.Event) -> None:
    """Run the cluster's notifier while this process holds its lease, until ``stop``; returns
    at once when no channel is configured."""
    settings = parts.settings
    if not channels_configured(settings):
        return
    scope = settings.postgres_schema or "public"
    lease = Lease(parts.redis, f"notifier:{scope}", ttl_s=settings.lease_ttl_s, holder=name)
    trail = PgAuditTrail(parts.pool)
    idle = settings.lease_ttl_s / 4
    try:
        while not stop.is_set():
            if not _take(lease):
                stop.wait(idle)
                continue
            log.info("%s runs the notifier of %s", name, scope)
            with open_notifier(
                settings, trail, cursor=PgCursor(parts.pool, scope=scope),
                catalogue=lambda: _catalogue(parts),
            ) as notifier:  # fmt: skip
                if notifier is None:
                    return
                notifier.start()
                while lease.held and not stop.is_set():
                    stop.wait(idle)
            log.info("%s stops the notifier of %s", name, scope)
    finally:
        lease.release()
        trail.close()


def _take(lease: Lease) -> bool:
    try:
        return lease.acquire()
    except Exception as exc:  # Redis away: stand by and try again (the estate worker says so too)
        log.warning("could not take %s: %s", lease.name, exc)
        return False


def _catalogue(parts: ClusterParts) -> Mapping[str, ServiceProfile]:
    """The catalogue of the worker's estate (who owns each service, who is paged)."""
    record = parts.registry.load(parts.estate)
    if record is None:
        return {}
    return {name: ServiceProfile(**profile) for name, profile in record.catalogue.items()}
