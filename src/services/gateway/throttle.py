"""Rate limits, through the ``limits`` library: moving windows, in memory for one process or in
Redis (``IC_RATE_LIMIT_STORAGE=redis://...``) when several gateways share the budget.

Three budgets: every principal's calls (``IC_RATE_LIMIT``), an ingest principal's deliveries
(``IC_INGEST_RATE_LIMIT``, larger: an Alertmanager in an alert storm must not be turned away
by the same budget as a person), and failed authentications per client address
(``IC_AUTH_FAILURE_LIMIT``), which slows guessing keys: an address over it is refused before
its credential is even checked.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from services.errors import ConfigurationError, RateLimitedError


class Throttle:
    def __init__(self, *, calls: str, ingest: str, auth_failures: str, storage: str) -> None:
        try:
            self._calls, self._ingest, self._failures = (
                parse(calls), parse(ingest), parse(auth_failures)
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigurationError(f"rate limit: {exc}") from exc
        try:
            self._limiter = MovingWindowRateLimiter(storage_from_string(storage))
        except Exception as exc:  # limits raises several types for a bad URI or a missing driver
            raise ConfigurationError(f"IC_RATE_LIMIT_STORAGE={storage!r}: {exc}") from exc

    def call(self, subject: str, *, ingest: bool) -> None:
        """Count one call by ``subject``; ``RateLimitedError`` when over its budget."""
        item = self._ingest if ingest else self._calls
        kind = "ingest" if ingest else "calls"
        if not self._limiter.hit(item, kind, subject):
            raise RateLimitedError(
                f"rate limit {item} exceeded for {subject}", self._retry_after(item, kind, subject)
            )

    def refuse_if_failing(self, address: str) -> None:
        """Refuse an address that failed to authenticate too often lately."""
        if not self._limiter.test(self._failures, "auth-failures", address):
            retry = self._retry_after(self._failures, "auth-failures", address)
            raise RateLimitedError(f"too many failed authentications from {address}", retry)

    def failed(self, address: str) -> None:
        self._limiter.hit(self._failures, "auth-failures", address)

    def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))
