"""The daily and monthly LLM budgets: when spent, no request is sent and rules take over."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from llmkit import QUESTION, advisor, fake, ranking_message
from services.llm import Outcome, Prices, Spend
from services.settings import Settings

GOOD = [{"service": "checkout", "fault": "bad-deploy", "confidence": 0.9, "evidence": ["E1"]}]


class Calendar:
    def __init__(self, today: date) -> None:
        self.today = today

    def __call__(self) -> date:
        return self.today


def test_prices_are_per_thousand_tokens() -> None:
    assert Prices(0.003, 0.015).cost(1500, 100) == pytest.approx(0.0045 + 0.0015)


def test_the_daily_budget_resets_the_next_day_but_the_month_keeps_count() -> None:
    calendar = Calendar(date(2026, 3, 1))
    spend = Spend(daily_usd=1.0, monthly_usd=1.5, today=calendar)

    spend.record("inc-1", 100, 10, 1.0)
    assert spend.exhausted() == "daily"
    calendar.today = date(2026, 3, 2)
    assert spend.exhausted() is None
    assert spend.remaining() == (1.0, 0.5)
    spend.record("inc-2", 100, 10, 0.5)
    assert spend.exhausted() == "monthly"
    calendar.today = date(2026, 4, 1)
    assert spend.remaining() == (1.0, 1.5)


def test_a_spent_budget_sends_nothing_and_says_so() -> None:
    spend = Spend(daily_usd=0.01, monthly_usd=10.0, today=lambda: date(2026, 3, 1))
    spend.record("earlier", 5000, 500, 0.01)
    chat = fake([ranking_message(GOOD)])

    answer = advisor(chat, spend=spend).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.BUDGET_SPENT
    assert answer.detail == "the daily LLM budget is spent"
    assert chat.calls == 0


def test_the_answer_that_spends_the_budget_is_the_last_one() -> None:
    spend = Spend(daily_usd=0.005, monthly_usd=10.0, today=lambda: date(2026, 3, 1))
    chat = fake([ranking_message(GOOD, tokens=(1000, 200)), ranking_message(GOOD)])
    subject = advisor(chat, spend=spend)

    first = subject.review(QUESTION, services=1, anomalies=1)
    second = subject.review(QUESTION, services=1, anomalies=1)

    assert first.outcome is Outcome.USED
    assert second.outcome is Outcome.BUDGET_SPENT
    assert chat.calls == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"llm_daily_budget_usd": 50, "llm_monthly_budget_usd": 10}, "cannot exceed"),
        ({"llm_endpoint_url": "localhost:8599"}, r"not an http\(s\) URL"),
        ({"llm_provider": "openai"}, "llm_provider"),
        ({"llm_timeout_s": 0}, "llm_timeout_s"),
    ],
)
def test_llm_settings_are_validated(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(_env_file=None, **overrides)  # type: ignore[call-arg, arg-type]


def test_a_restart_keeps_the_days_and_the_months_spend_when_it_is_kept_on_disk(
    tmp_path: Path,
) -> None:
    day = date(2026, 3, 14)
    books = Spend(daily_usd=1.0, monthly_usd=1.5, today=lambda: day, path=tmp_path / "s.sqlite")
    books.record("inc-1", 1000, 200, 0.6)
    books.record("inc-1", 1000, 200, 0.5)

    again = Spend(daily_usd=1.0, monthly_usd=1.5, today=lambda: day, path=tmp_path / "s.sqlite")
    assert again.exhausted() == "daily"  # 1.1 of 1.0 spent before the restart
    assert again.incident("inc-1").requests == 2
    later = Spend(
        daily_usd=1.0, monthly_usd=1.5, today=lambda: date(2026, 3, 15), path=tmp_path / "s.sqlite"
    )
    assert later.remaining() == pytest.approx((1.0, 0.4))  # a new day, the same month
