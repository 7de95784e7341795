"""Rate limits, through the ``limits`` library: moving windows, in memory for one process or in
Redis (``IC_RATE_LIMIT_STORAGE=redis://...``) when several gateways share the budget.

Three budgets: every principal's calls (``IC_RATE_LIMIT``), an ingest principal's deliveries
(``IC_INGEST_RATE_LIMIT``, larger: an Alertmanager in an alert storm must not be turned away
by the same budget as a person), and failed authentications per client address
(``IC_AUTH_FAILURE_LIMIT``): a failure from an address over it is answered 429 with
Retry-After instead of 401, which tells a client stuck on a bad credential to back off.

Only failures are limited, never successes: a valid credential is accepted from any address,
however many bad ones came from it before. Refusing it would hand anyone who shares an
address with an operator (a NAT, a proxy, a spoofable ``X-Forwarded-For``) a way to lock the
operator out with thirty bad requests. Nothing is lost to guessing: a key's secret has 256
bits, so no number of guesses finds one.
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

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``; ``RateLimitedError`` when it is
        over its budget of failures."""
        if not self._limiter.hit(self._failures, "auth-failures", address):
            retry = self._retry_after(self._failures, "auth-failures", address)
            raise RateLimitedError(f"too many failed authentications from {address}", retry)

    def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))
