"""Microsoft Teams, through a Workflows webhook ("When a Teams webhook request is received"):
a message with one Adaptive Card attachment."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.notify.channel import OneUrl, Target, post
from services.notify.notice import Notice


class Teams(OneUrl):
    name = "teams"

    def __init__(self, client: httpx.Client, *, url: str, rate_limit: str = "4/second") -> None:
        super().__init__(client, url=url, rate_limit=rate_limit)

    def send(self, notice: Notice, target: Target) -> None:
        post(self._client, target.address, content=json.dumps(message(notice)).encode())


def message(notice: Notice) -> dict[str, Any]:
    """The webhook body: ``type: message`` with an Adaptive Card 1.4."""
    facts = [
        {"title": "Incident", "value": notice.incident_id},
        {"title": "Severity", "value": notice.facts.severity or "unknown"},
        {"title": "Services", "value": ", ".join(notice.facts.services) or "none"},
    ]
    if notice.approval is not None:
        a = notice.approval
        facts.append({"title": "Action", "value": f"{a.action} on {a.service} ({a.candidate})"})
        facts.append({"title": "Approval hash", "value": a.token})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": notice.headline, "weight": "Bolder", "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    if notice.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open the incident", "url": notice.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
