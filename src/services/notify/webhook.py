"""A generic webhook: every notice as JSON, signed so the receiver knows it came from us.

Headers::

    X-IC-Event: escalated | approval_needed | acknowledged | resolved
    X-IC-Delivery: <the delivery's key: the same on every retry>
    X-IC-Timestamp: <unix seconds>
    X-IC-Signature: sha256=<hex HMAC-SHA256 with the secret, over timestamp + "." + body>

The receiver recomputes the HMAC over the raw body, compares in constant time, and refuses
an old timestamp (docs/notifications.md has the snippet).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from services.notify.channel import OneUrl, Target, post
from services.notify.notice import Notice


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class Webhook(OneUrl):
    name = "webhook"

    def __init__(
        self,
        client: httpx.Client,
        *,
        url: str,
        secret: str,
        rate_limit: str = "10/second",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, url=url, rate_limit=rate_limit)
        self._secret = secret
        self._clock = clock

    def send(self, notice: Notice, target: Target) -> None:
        body = json.dumps(payload(notice), separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "X-IC-Event": notice.event,
            "X-IC-Delivery": f"{self.name}:{notice.key}",
            "X-IC-Timestamp": timestamp,
            "X-IC-Signature": sign(self._secret, timestamp, body),
        }
        post(self._client, target.address, content=body, headers=headers)


def payload(notice: Notice) -> dict[str, Any]:
    approval = notice.approval
    return {
        "event": notice.event,
        "incident_id": notice.incident_id,
        "audit_seq": notice.seq,
        "summary": notice.headline,
        "title": notice.facts.title,
        "severity": notice.facts.severity,
        "services": list(notice.facts.services),
        "by": notice.by,
        "link": notice.link,
        "approval": None
        if approval is None
        else {
            "candidate": approval.candidate,
            "action": approval.action,
            "service": approval.service,
            "rule": approval.rule,
            "hash": approval.token,
        },
    }
