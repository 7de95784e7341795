"""Approvals from Slack: checking a button click before it is treated as a person's answer.

A click is accepted when, in this order:

1. it carries ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature``, and the timestamp is
   within five minutes of now (either way): an old request is refused as ``stale``;
2. the signature is the app's (``slack_sdk.signature.SignatureVerifier``, the signing
   secret): else ``bad_signature``;
3. the same signed request has not been seen in the last five minutes: else ``replayed``
   (signatures are remembered for the window; an older one is stale anyway);
4. it is a ``block_actions`` payload from one of our buttons: else ``malformed``;
5. its Slack user is mapped to a principal (``IC_SLACK_APPROVERS``): else ``unmapped_user``.

The route then authorises the principal for ``incidents.approve`` like any API caller
(``forbidden``) and answers the approval through the same operation as
``POST /v1/incidents/{id}/approve``, quoting the token from the button: a wrong or spent
hash is ``not_awaiting``. Every refusal is an ``approval.refused`` entry of the audit trail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from services.gateway.auth import Principal, Role
from services.notify.slack import APPROVE, REJECT

WINDOW_S = 300
_ANSWERS: dict[str, Literal["grant", "deny"]] = {APPROVE: "grant", REJECT: "deny"}
Reason = Literal[
    "stale", "bad_signature", "replayed", "malformed", "unmapped_user", "forbidden",
    "not_awaiting", "not_found",
]  # fmt: skip


class SlackRefusal(Exception):  # noqa: N818 (a refusal, recorded; not a failure of ours)
    """A click refused, and why; ``user`` and ``incident_id`` once they can be trusted."""

    def __init__(
        self, reason: Reason, detail: str, *, user: str | None = None, incident: str | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.user = user
        self.incident_id = incident


@dataclass(frozen=True, slots=True)
class Click:
    user: str
    principal: Principal
    incident_id: str
    token: str
    answer: Literal["grant", "deny"]
    response_url: str | None


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackGate:
    def __init__(
        self,
        signing_secret: str,
        approvers: Mapping[str, tuple[str, str]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
        self._approvers = dict(approvers)
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, body: bytes, headers: Mapping[str, str]) -> Click:
        """The click ``body`` (as received) describes; ``SlackRefusal`` saying why not."""
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            raise SlackRefusal("bad_signature", "no X-Slack-Request-Timestamp or X-Slack-Signature")
        try:
            sent = int(timestamp)
        except ValueError:
            raise SlackRefusal("bad_signature", "the timestamp is not a number") from None
        now = self._clock()
        if abs(now - sent) > WINDOW_S:
            raise SlackRefusal("stale", f"signed {int(now - sent)} s ago; the window is 300 s")
        if not self._verifier.is_valid(body, timestamp, signature):
            raise SlackRefusal("bad_signature", "the signature is not the Slack app's")
        self._remember(signature, now)
        return self._click(body)

    def _remember(self, signature: str, now: float) -> None:
        with self._lock:
            for old in [s for s, until in self._seen.items() if until < now]:
                del self._seen[old]
            if signature in self._seen:
                raise SlackRefusal("replayed", "this signed request was received already")
            self._seen[signature] = now + WINDOW_S

    def _click(self, body: bytes) -> Click:
        try:
            [raw] = parse_qs(body.decode("utf-8"), strict_parsing=True)["payload"]
            payload: dict[str, Any] = json.loads(raw)
            user = str(payload["user"]["id"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise SlackRefusal("malformed", "not a Slack interaction payload") from None
        try:
            [action] = payload["actions"]
            answer = _ANSWERS[action["action_id"]]
            value = json.loads(action["value"])
            incident, token = str(value["incident"]), str(value["hash"])
        except (ValueError, KeyError, TypeError):
            raise SlackRefusal("malformed", "not one of our approval buttons", user=user) from None
        named = self._approvers.get(user)
        if named is None:
            raise SlackRefusal(
                "unmapped_user", f"Slack user {user} is not in IC_SLACK_APPROVERS",
                user=user, incident=incident,
            )  # fmt: skip
        subject, role = named
        principal = Principal(subject=subject, roles=frozenset({Role(role)}), via="slack")
        response_url = payload.get("response_url")
        return Click(
            user=user, principal=principal, incident_id=incident, token=token, answer=answer,
            response_url=str(response_url) if response_url else None,
        )  # fmt: skip
