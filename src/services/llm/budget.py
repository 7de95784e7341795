"""Token and cost accounting per incident, per UTC day and month, against a budget.

Costs come from the ``usage_metadata`` the model reports and the configured prices. When the
day's or the month's budget is spent, ``Spend.exhausted`` says which, and the caller uses the
rule-based agents only: no request is sent. The books live in memory, and, given a ``path``
(``serve`` passes its state directory's ``llm-spend.sqlite``), in SQLite too: a restart does
not reset the day's or the month's budget.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Prices:
    input_per_1k: float
    output_per_1k: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return tokens_in / 1000 * self.input_per_1k + tokens_out / 1000 * self.output_per_1k


@dataclass(slots=True)
class Usage:
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0


def _utc_today() -> date:
    return datetime.now(UTC).date()


class Spend:
    """What the model cost, by incident, day and month; thread-safe."""

    def __init__(
        self,
        daily_usd: float,
        monthly_usd: float,
        today: Callable[[], date] = _utc_today,
        path: Path | None = None,
    ) -> None:
        self.daily_usd = daily_usd
        self.monthly_usd = monthly_usd
        self._today = today
        self._lock = threading.Lock()
        self._days: dict[date, float] = {}
        self._months: dict[tuple[int, int], float] = {}
        self._incidents: dict[str, Usage] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS spend (day TEXT NOT NULL, incident TEXT NOT NULL,"
            " tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, usd REAL NOT NULL)"
        )
        for day_text, incident, tokens_in, tokens_out, usd in db.execute(
            "SELECT day, incident, tokens_in, tokens_out, usd FROM spend"
        ):
            self._add(date.fromisoformat(day_text), incident, tokens_in, tokens_out, usd)
        self._db = db

    def remaining(self) -> tuple[float, float]:
        """USD left (day, month), never below zero."""
        day = self._today()
        with self._lock:
            spent_day = self._days.get(day, 0.0)
            spent_month = self._months.get((day.year, day.month), 0.0)
        return max(0.0, self.daily_usd - spent_day), max(0.0, self.monthly_usd - spent_month)

    def exhausted(self) -> str | None:
        """``"daily"`` or ``"monthly"`` when that budget is spent, else None."""
        day, month = self.remaining()
        if month <= 0:
            return "monthly"
        if day <= 0:
            return "daily"
        return None

    def record(self, incident_id: str, tokens_in: int, tokens_out: int, usd: float) -> None:
        day = self._today()
        with self._lock:
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO spend (day, incident, tokens_in, tokens_out, usd)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (day.isoformat(), incident_id, tokens_in, tokens_out, usd),
                )
            self._add(day, incident_id, tokens_in, tokens_out, usd)

    def _add(
        self, day: date, incident_id: str, tokens_in: int, tokens_out: int, usd: float
    ) -> None:
        self._days[day] = self._days.get(day, 0.0) + usd
        key = (day.year, day.month)
        self._months[key] = self._months.get(key, 0.0) + usd
        usage = self._incidents.setdefault(incident_id, Usage())
        usage.requests += 1
        usage.tokens_in += tokens_in
        usage.tokens_out += tokens_out
        usage.usd += usd

    def incident(self, incident_id: str) -> Usage:
        """What one incident's questions cost so far (a copy)."""
        with self._lock:
            got = self._incidents.get(incident_id, Usage())
            return Usage(got.requests, got.tokens_in, got.tokens_out, got.usd)
