"""Paging and chat: who is told what as incidents move (issue 14).

::

    audit trail ──> Notifier (own thread, cursor) ──> Courier (rate limit, retries) ──> Channel
                         │                                                         ├─ PagerDuty
                         └── notify.sent / notify.failed back into the trail        ├─ Slack webhook
                                                                                    ├─ Slack app
                                                                                    ├─ Teams
                                                                                    └─ webhook

- ``notice``: which audit entries make notices, and what a notice says (pure);
- ``channel``: the one interface, and the one HTTP exchange every channel makes;
- ``pagerduty``, ``slack``, ``teams``, ``webhook``: a channel each;
- ``delivery``: rate limits and retries; ``notifier``: the trail follower.

The answers from chat (Slack's Approve / Reject buttons) come back through the gateway
(``services.gateway.slack`` and ``routes.integrations``). docs/notifications.md has the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import httpx

from services.aws.resources import ServiceProfile
from services.notify.channel import Channel
from services.notify.delivery import Courier
from services.notify.notifier import Cursor, CursorStore, Notifier, NotifyTrail
from services.notify.pagerduty import PagerDuty
from services.notify.slack import SlackApp, SlackWebhook
from services.notify.teams import Teams
from services.notify.webhook import Webhook
from services.settings import Settings

__all__ = [
    "Channel", "Courier", "Cursor", "CursorStore", "Notifier", "channels_configured",
    "channels_from", "open_notifier",
]  # fmt: skip


def channels_from(settings: Settings, client: httpx.Client) -> list[Channel]:
    """A channel for each target the settings configure."""
    channels: list[Channel] = []
    default_key = settings.pagerduty_default_routing_key
    if settings.pagerduty_routing_map or default_key is not None:
        channels.append(
            PagerDuty(
                client,
                url=settings.pagerduty_events_url,
                routing_keys=settings.pagerduty_routing_map,
                default_key=default_key.get_secret_value() if default_key else None,
                min_severity=settings.pagerduty_min_severity,
                rate_limit=settings.pagerduty_rate_limit,
            )
        )
    if settings.slack_webhook_url is not None:
        channels.append(
            SlackWebhook(
                client,
                url=settings.slack_webhook_url.get_secret_value(),
                rate_limit=settings.slack_rate_limit,
            )
        )
    if settings.slack_bot_token is not None and settings.slack_channel:
        channels.append(
            SlackApp(
                client,
                token=settings.slack_bot_token.get_secret_value(),
                channel=settings.slack_channel,
                api_url=settings.slack_api_url,
                rate_limit=settings.slack_rate_limit,
                owner_channels=settings.slack_owner_channel_map,
            )
        )
    if settings.teams_webhook_url is not None:
        channels.append(
            Teams(
                client,
                url=settings.teams_webhook_url.get_secret_value(),
                rate_limit=settings.teams_rate_limit,
            )
        )
    if settings.webhook_url is not None and settings.webhook_secret is not None:
        channels.append(
            Webhook(
                client,
                url=settings.webhook_url,
                secret=settings.webhook_secret.get_secret_value(),
                rate_limit=settings.webhook_rate_limit,
            )
        )
    return channels


def channels_configured(settings: Settings) -> bool:
    """Whether the settings configure any channel (without building one)."""
    with httpx.Client() as client:
        return bool(channels_from(settings, client))


@contextmanager
def open_notifier(
    settings: Settings,
    trail: NotifyTrail,
    *,
    catalogue: Callable[[], Mapping[str, ServiceProfile]] = dict,
    cursor: CursorStore | None = None,
) -> Iterator[Notifier | None]:
    """A notifier over ``trail`` for the configured channels (None when none is configured),
    its cursor read now; the caller starts it. Stopped and its HTTP client closed on exit."""
    with httpx.Client(timeout=settings.notify_timeout_s, follow_redirects=False) as client:
        channels = channels_from(settings, client)
        if not channels:
            yield None
            return
        courier = Courier(
            max_attempts=settings.notify_max_attempts,
            backoff_s=settings.notify_backoff_s,
            max_backoff_s=settings.notify_max_backoff_s,
        )
        notifier = Notifier(
            trail, channels, courier,
            cursor=cursor if cursor is not None else Cursor(settings.notify_cursor_file),
            catalogue=catalogue, link_base=settings.public_url,
        )  # fmt: skip
        try:
            yield notifier
        finally:
            notifier.stop()
