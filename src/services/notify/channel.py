"""What every channel is: a name, the events it takes, who it tells about a notice, and one
``send`` that either returns or raises ``DeliveryError`` saying whether to try again.

``post`` is the one HTTP exchange every channel makes, and the one place a receiver's answer
becomes success or a ``DeliveryError``: a timeout, a connection refused, a 5xx or a 429 is
worth retrying (a 429's ``Retry-After`` is honoured); any other 4xx is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from services.aws.resources import ServiceProfile
from services.errors import DeliveryError
from services.notify.notice import Event, Notice

Catalogue = Mapping[str, ServiceProfile]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a channel sends: ``name`` is what the audit trail records (never a secret);
    ``address`` is what the channel needs (a routing key, a URL, a Slack channel)."""

    name: str
    address: str


class Channel(Protocol):
    @property
    def name(self) -> str:
        """``pagerduty``, ``slack``, ``slack-app``, ``teams`` or ``webhook``."""

    @property
    def events(self) -> frozenset[Event]:
        """The notices it takes."""

    @property
    def rate_limit(self) -> str:
        """Per target, in the ``limits`` notation (``120/minute``)."""

    def targets(self, notice: Notice, catalogue: Catalogue) -> list[Target]:
        """Who hears of an incident being announced (escalated, approval needed)."""

    def target(self, name: str) -> Target | None:
        """The target of that name, if still configured (follow-ups go where it was announced)."""

    def send(self, notice: Notice, target: Target) -> None:
        """Deliver; ``DeliveryError`` when it was not taken."""


ONLY = "default"
"""The target name of a channel with one destination."""
EVERY_EVENT: frozenset[Event] = frozenset(
    {"escalated", "approval_needed", "acknowledged", "resolved"}
)


class OneUrl:
    """A channel with one destination, a webhook URL: every notice goes there. Its subclasses
    say only how a notice is written (``send``)."""

    name = ""
    events = EVERY_EVENT

    def __init__(self, client: httpx.Client, *, url: str, rate_limit: str) -> None:
        self._client = client
        self._url = url
        self.rate_limit = rate_limit

    def targets(self, notice: Notice, catalogue: Catalogue) -> list[Target]:
        return [Target(ONLY, self._url)]

    def target(self, name: str) -> Target | None:
        return Target(ONLY, self._url) if name == ONLY else None


def post(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST ``content`` as JSON; the response when it is a 2xx, else ``DeliveryError``."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    try:
        response = client.post(url, content=content, headers=sent)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out: {type(exc).__name__}", retryable=True) from exc
    except httpx.TransportError as exc:
        raise DeliveryError(f"unreachable: {type(exc).__name__}: {exc}", retryable=True) from exc
    if response.is_success:
        return response
    status = response.status_code
    detail = response.text[:200].strip()
    reason = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        raise DeliveryError(
            reason, retryable=True, retry_after=retry_after(response.headers.get("Retry-After"))
        )
    raise DeliveryError(reason, retryable=status >= 500 or status == 408)


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (the HTTP-date form is not used by these receivers)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
