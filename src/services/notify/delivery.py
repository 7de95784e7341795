"""Getting one notice to one target: wait for the channel's rate limit, send, and on a
retryable failure try again after a backoff (the receiver's ``Retry-After`` when it gave one,
else ``backoff_s`` doubled each attempt, never more than ``max_backoff_s``).

``deliver`` never raises a ``DeliveryError``: it returns what happened, for the audit trail.
The rate limit is per channel and target (PagerDuty's is per routing key), kept by ``limits``
in memory: one notifier sends for the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from services.errors import DeliveryError
from services.notify.channel import Channel, Target
from services.notify.notice import Notice


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: bool
    attempts: int
    reason: str | None = None


class Courier:
    def __init__(
        self,
        *,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        storage: Storage | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._clock = clock
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._limits: dict[str, RateLimitItem] = {}

    def deliver(self, channel: Channel, notice: Notice, target: Target) -> Outcome:
        self._wait_for_limit(channel, target)
        attempts = 0

        def send() -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self._wait_for_limit(channel, target)
            channel.send(notice, target)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            retrying(send)
        except DeliveryError as exc:
            return Outcome(False, attempts, exc.reason)
        return Outcome(True, attempts)

    def _wait(self, state: RetryCallState) -> float:
        """The receiver's Retry-After, else exponential backoff; capped."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, DeliveryError) and error.retry_after is not None:
            return min(float(error.retry_after), self.max_backoff_s)
        backoff: float = self.backoff_s * 2 ** (state.attempt_number - 1)
        return min(backoff, self.max_backoff_s)

    def _wait_for_limit(self, channel: Channel, target: Target) -> None:
        item = self._limits.get(channel.rate_limit)
        if item is None:
            item = self._limits[channel.rate_limit] = parse(channel.rate_limit)
        while not self._limiter.hit(item, channel.name, target.name):
            reset = self._limiter.get_window_stats(item, channel.name, target.name).reset_time
            self._sleep(max(0.05, reset - self._clock()))
