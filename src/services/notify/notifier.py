"""The notifier: follows the audit trail from a cursor and tells people what the entries say.

It runs on its own thread and never inside the incident graph: a receiver that is down, slow
or refusing delays only the notifier, and every outcome is an entry of the trail itself
(``notify.sent`` or ``notify.failed``, with the channel, the target's name, the event, the
attempts and the reason).

Nothing lost, nothing sent twice
--------------------------------
The cursor (the seq of the last entry handled) is a small file, replaced atomically after
each batch and after each entry that sent something; a restarted notifier goes on from it.
Without the file it starts at the trail's head: enabling paging does not page for history.
Before sending, the notifier looks for a ``notify.sent`` of the same delivery key among the
incident's entries, and the record of a sending is keyed by it, so an entry handled again
(the process stopped between sending and moving the cursor) is not sent again; only a
sending cut off before its record was stored can be repeated, and PagerDuty merges it by its
``dedup_key``.

Follow-ups (acknowledged, resolved) go only to the targets that were told of the incident
(escalated or approval needed), as the trail records them: PagerDuty resolves exactly the
alerts it was paged for, and a chat hears the end of what it heard the start of.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from services.audit import AuditEntry, AuditRecord
from services.aws.resources import ServiceProfile
from services.notify.channel import Channel, Target
from services.notify.delivery import Courier
from services.notify.notice import TRIGGERS, Notice, facts, notice_of, relevant

log = logging.getLogger(__name__)

ACTOR = "notifier"
PAGE = 500


class NotifyTrail(Protocol):
    """The part of the audit trail the notifier reads and writes (SQLite or Postgres)."""

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]: ...

    def after(
        self, seq: int, *, limit: int = 1000, incident_id: str | None = None
    ) -> list[AuditEntry]: ...

    def for_incident(self, incident_id: str) -> list[AuditEntry]: ...

    def last_seq(self) -> int: ...


class CursorStore(Protocol):
    """Where the seq of the last entry handled is kept: a file (:class:`Cursor`, one process)
    or Postgres (``services.pg.cursor.PgCursor``, a cluster)."""

    def load(self) -> int | None: ...

    def save(self, seq: int) -> None: ...


class Cursor:
    """The seq of the last entry handled, in a JSON file replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        try:
            return int(json.loads(self.path.read_text(encoding="utf-8"))["seq"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("notifier cursor %s unreadable (%s): starting at the head", self.path, exc)
            return None

    def save(self, seq: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"seq": seq}), encoding="utf-8")
        temporary.replace(self.path)


class Notifier:
    def __init__(
        self,
        trail: NotifyTrail,
        channels: Sequence[Channel],
        courier: Courier,
        *,
        cursor: CursorStore,
        catalogue: Callable[[], Mapping[str, ServiceProfile]] = dict,
        link_base: str | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.trail = trail
        self.channels = list(channels)
        self.courier = courier
        self.catalogue = catalogue
        self.link_base = link_base
        self.poll_s = poll_s
        self._cursor = cursor
        saved = cursor.load()
        self.seq = saved if saved is not None else trail.last_seq()
        """Entries up to this one are handled."""
        self._lock = threading.Lock()  # one catch-up at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the notifier is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, name="notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def poke(self, entries: list[AuditEntry] | None = None) -> None:
        """Wake the notifier (an audit trail subscriber: new entries are there)."""
        self._wake.set()

    # -- the work -------------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Handle every entry after the cursor; return how many were handled."""
        handled = 0
        with self._lock:
            while not self._stop.is_set():
                batch = self.trail.after(self.seq, limit=PAGE)
                for entry in batch:
                    if self._stop.is_set():
                        break
                    if self._handle(entry):
                        self._cursor.save(entry.seq)
                    self.seq = entry.seq
                    handled += 1
                if batch:
                    self._cursor.save(self.seq)
                if len(batch) < PAGE:
                    break
        return handled

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
            except Exception:  # the trail is away: keep the cursor, try again
                log.exception("the notifier could not read the audit trail")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _handle(self, entry: AuditEntry) -> bool:
        """Tell each channel's targets what ``entry`` says; True when anything was sent."""
        if not relevant(entry) or entry.incident_id is None:
            return False
        try:
            history = self.trail.for_incident(entry.incident_id)
            notice = notice_of(entry, facts(history), self.link_base)
            if notice is None:
                return False
            told = _told(history)
            sent = False
            for channel in self.channels:
                if notice.event not in channel.events:
                    continue
                for target in self._targets(channel, notice, told):
                    sent |= self._send(channel, notice, target, told)
            return sent
        except Exception:  # never let one entry stop the notifier
            log.exception("the notifier failed on audit entry %d", entry.seq)
            return False

    def _targets(
        self, channel: Channel, notice: Notice, told: dict[str, dict[str, str]]
    ) -> list[Target]:
        if notice.event in TRIGGERS:
            return channel.targets(notice, self.catalogue())
        announced = {name for name, event in told.get(channel.name, {}).items() if event}
        return [t for name in sorted(announced) if (t := channel.target(name)) is not None]

    def _send(
        self, channel: Channel, notice: Notice, target: Target, told: dict[str, dict[str, str]]
    ) -> bool:
        key = f"notify:{channel.name}:{target.name}:{notice.key}"
        if key in told.get("", {}):
            return False  # sent already (a restart handling the entry again)
        outcome = self.courier.deliver(channel, notice, target)
        data = {
            "channel": channel.name,
            "target": target.name,
            "event": notice.event,
            "key": key,
            "source_seq": notice.seq,
            "attempts": outcome.attempts,
        }
        if outcome.sent:
            record = AuditRecord(ACTOR, "notify.sent", notice.incident_id, data, key=key)
        else:
            data["reason"] = outcome.reason
            record = AuditRecord(
                ACTOR, "notify.failed", notice.incident_id, data, key=f"{key}:failed:{notice.seq}"
            )
            log.warning(
                "%s to %s/%s failed after %d attempts: %s",
                notice.event, channel.name, target.name, outcome.attempts, outcome.reason,
            )  # fmt: skip
        self.trail.append([record])
        if outcome.sent:
            told.setdefault("", {})[key] = notice.event
            if notice.event in TRIGGERS:
                told.setdefault(channel.name, {})[target.name] = notice.event
        return outcome.sent


def _told(history: Sequence[AuditEntry]) -> dict[str, dict[str, str]]:
    """From an incident's entries: channel -> target -> the trigger sent it, and under ``""``
    every delivery key sent."""
    told: dict[str, dict[str, str]] = {"": {}}
    for entry in history:
        if entry.kind != "notify.sent":
            continue
        data = entry.data
        told[""][str(data.get("key"))] = str(data.get("event"))
        if data.get("event") in TRIGGERS:
            told.setdefault(str(data["channel"]), {})[str(data["target"])] = str(data["event"])
    return told
