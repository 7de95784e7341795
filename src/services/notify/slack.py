"""Slack: plain messages through an incoming webhook, and approval requests with Approve /
Reject buttons (Block Kit) through a Slack app's ``chat.postMessage``.

A button's ``value`` carries the incident id and the approval token (the same hash the API's
``POST /v1/incidents/{id}/approve`` takes); Slack calls the gateway back when it is clicked
(``services.gateway.routes.integrations``), signed with the app's signing secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from services.errors import DeliveryError
from services.notify.channel import Catalogue, OneUrl, Target, post
from services.notify.notice import Event, Notice

APPROVE, REJECT = "approve", "reject"
"""The ``action_id`` of each button."""


def text(notice: Notice) -> str:
    """The message as Slack ``mrkdwn``."""
    lines = [f"*{notice.headline}*"]
    if notice.facts.services:
        lines.append(f"Services: {', '.join(notice.facts.services)}")
    if notice.approval is not None:
        a = notice.approval
        lines.append(f"Action: `{a.action}` on `{a.service}` ({a.candidate}), rule: {a.rule}")
    if notice.link:
        lines.append(f"<{notice.link}|Open the incident>")
    return "\n".join(lines)


class SlackWebhook(OneUrl):
    """An incoming webhook: every notice, as text."""

    name = "slack"

    def __init__(self, client: httpx.Client, *, url: str, rate_limit: str = "1/second") -> None:
        super().__init__(client, url=url, rate_limit=rate_limit)

    def send(self, notice: Notice, target: Target) -> None:
        body = {"text": notice.headline, "blocks": [_section(text(notice))]}
        post(self._client, target.address, content=json.dumps(body).encode())


class SlackApp:
    """A Slack app posting approval requests with buttons to one channel."""

    name = "slack-app"
    events: frozenset[Event] = frozenset({"approval_needed"})

    def __init__(
        self,
        client: httpx.Client,
        *,
        token: str,
        channel: str,
        api_url: str = "https://slack.com/api",
        rate_limit: str = "1/second",
        owner_channels: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._token = token
        self._channel = channel
        self._owners = dict(owner_channels or {})
        self._url = f"{api_url.rstrip('/')}/chat.postMessage"
        self.rate_limit = rate_limit

    def targets(self, notice: Notice, catalogue: Catalogue) -> list[Target]:
        """The channels of the owners of the incident's services (``owner_channels``), once
        each; the default channel when none of them has one."""
        found: list[str] = []
        for service in notice.facts.services:
            profile = catalogue.get(service)
            for owner in profile.owners if profile is not None else ():
                channel = self._owners.get(owner)
                if channel and channel not in found:
                    found.append(channel)
        return [Target(c, c) for c in found or [self._channel]]

    def target(self, name: str) -> Target | None:
        known = name == self._channel or name in self._owners.values()
        return Target(name, name) if known else None

    def send(self, notice: Notice, target: Target) -> None:
        body = approval_message(notice, target.address)
        response = post(
            self._client,
            self._url,
            content=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json; charset=utf-8",
            },
        )
        answer = response.json() if response.content else {}
        if not answer.get("ok", False):
            error = str(answer.get("error", "no answer"))
            raise DeliveryError(f"Slack refused: {error}", retryable=error == "ratelimited")


def approval_message(notice: Notice, channel: str) -> dict[str, Any]:
    """A ``chat.postMessage`` body: the request, and Approve / Reject bound to its token."""
    blocks: list[dict[str, Any]] = [_section(text(notice))]
    if notice.approval is not None:
        value = json.dumps({"incident": notice.incident_id, "hash": notice.approval.token})
        blocks.append(
            {
                "type": "actions",
                "block_id": "approval",
                "elements": [
                    _button(APPROVE, "Approve", "primary", value),
                    _button(REJECT, "Reject", "danger", value),
                ],
            }
        )
    return {"channel": channel, "text": notice.headline, "blocks": blocks}


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:3000]}}


def _button(action_id: str, label: str, style: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "style": style,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
