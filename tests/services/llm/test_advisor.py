"""The advisor over langchain-core's fake chat model: each path returns the right outcome."""

from __future__ import annotations

import time
from datetime import date

import pybreaker
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry

from llmkit import QUESTION, advisor, fake, ranking_message
from services.llm import Outcome, Spend, Tier
from services.metrics import LlmMetrics

GOOD = [
    {"service": "checkout", "fault": "bad-deploy", "confidence": 0.9, "evidence": ["E1"]},
    {"service": "payments-db", "fault": "connection-exhaustion", "confidence": 0.7,
     "evidence": ["E2"]},
    {"service": "ledger", "fault": "bad-deploy", "confidence": 0.6, "evidence": ["E1"]},
    {"service": "checkout", "fault": "disk-full", "confidence": 0.6, "evidence": ["E1"]},
    {"service": "checkout", "fault": "bad-deploy", "confidence": 0.6, "evidence": []},
    {"service": "checkout", "fault": "bad-deploy", "confidence": 0.6, "evidence": ["E1", "E9"]},
]  # fmt: skip


def throttling() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Converse"
    )


def test_a_good_answer_is_checked_against_the_evidence() -> None:
    chat = fake([ranking_message(GOOD)])

    answer = advisor(chat).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.USED
    assert [(h.service, h.fault) for h in answer.kept] == [
        ("checkout", "bad-deploy"),
        ("payments-db", "connection-exhaustion"),
    ]
    assert [why for _, why in answer.discarded] == [
        "service 'ledger' is not in the incident",
        "fault 'disk-full' is not a known kind",
        "cites no evidence",
        "cites evidence that was not gathered: E9",
    ]


def test_an_answer_with_nothing_supported_is_discarded() -> None:
    bad = [{"service": "ledger", "fault": "bad-deploy", "confidence": 1, "evidence": ["E1"]}]

    answer = advisor(fake([ranking_message(bad)])).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.DISCARDED
    assert answer.kept == ()


def test_an_answer_that_is_not_a_ranking_is_malformed() -> None:
    chat = fake([ranking_message([{"service": "checkout"}])])

    answer = advisor(chat).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.MALFORMED
    assert "validation error" in answer.detail


def test_a_plain_text_answer_is_malformed() -> None:
    chat = fake([ranking_message([])])
    chat.messages = iter([ranking_message([]).model_copy(update={"tool_calls": []})])

    answer = advisor(chat).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.MALFORMED


def test_a_slow_model_times_out() -> None:
    chat = fake([ranking_message(GOOD)], delay_s=1.0)

    started = time.monotonic()
    answer = advisor(chat, timeout_s=0.1).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.TIMEOUT
    assert time.monotonic() - started < 0.8


def test_throttling_is_retried_with_growing_backoff_then_answered() -> None:
    chat = fake([ranking_message(GOOD)])
    chat.fail_with = [throttling(), throttling()]
    sleeps: list[float] = []

    answer = advisor(chat, max_attempts=3, backoff_s=1.0, sleeps=sleeps).review(
        QUESTION, services=1, anomalies=1
    )

    assert answer.outcome is Outcome.USED
    assert answer.attempts == chat.calls == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 30 for s in sleeps)


def test_throttling_past_the_attempts_falls_back() -> None:
    chat = fake([ranking_message(GOOD)])
    chat.fail_with = [throttling() for _ in range(5)]

    answer = advisor(chat, max_attempts=3).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.THROTTLED
    assert chat.calls == 3


def test_other_errors_are_not_retried() -> None:
    chat = fake([ranking_message(GOOD)])
    chat.fail_with = [
        ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Converse")
    ]

    answer = advisor(chat, max_attempts=3).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.ERROR
    assert "AccessDeniedException" in answer.detail
    assert chat.calls == 1


def test_the_breaker_opens_after_failures_and_closes_after_its_timeout() -> None:
    chat = fake([ranking_message(GOOD)])
    chat.fail_with = [RuntimeError("connection refused")] * 2
    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=0.2, throw_new_error_on_trip=False)
    subject = advisor(chat, breaker=breaker)

    outcomes = [subject.review(QUESTION, services=1, anomalies=1).outcome for _ in range(3)]

    assert outcomes == [Outcome.ERROR, Outcome.ERROR, Outcome.BREAKER_OPEN]
    assert chat.calls == 2  # the open breaker sent nothing
    time.sleep(0.25)
    assert subject.review(QUESTION, services=1, anomalies=1).outcome is Outcome.USED
    assert chat.calls == 3


def test_routing_picks_the_model_tier() -> None:
    chat = fake([ranking_message(GOOD), ranking_message(GOOD)])
    subject = advisor(chat)

    simple = subject.review(QUESTION, services=1, anomalies=1)
    complex_ = subject.review(QUESTION, services=4, anomalies=6)

    assert (simple.tier, simple.model) == (Tier.SMALL, "small-model")
    assert (complex_.tier, complex_.model) == (Tier.LARGE, "large-model")


def test_the_prompt_is_masked_before_it_leaves() -> None:
    chat = fake([ranking_message(GOOD)])
    leaky = QUESTION.__class__(
        **{
            **{f: getattr(QUESTION, f) for f in QUESTION.__dataclass_fields__},
            "anomalies": ("login from 198.51.100.7 with key AKIAIOSFODNN7EXAMPLE",),
        }
    )

    advisor(chat).review(leaky, services=1, anomalies=1)

    sent = "\n".join(str(m.content) for m in chat.seen[0])
    assert "AKIAIOSFODNN7EXAMPLE" not in sent
    assert "198.51.100.7" not in sent
    assert "[aws-key]" in sent


def test_tokens_and_cost_are_accounted_and_exported() -> None:
    registry = CollectorRegistry()
    spend = Spend(daily_usd=1.0, monthly_usd=10.0, today=lambda: date(2026, 3, 1))
    chat = fake([ranking_message(GOOD, tokens=(2000, 400))])

    answer = advisor(chat, spend=spend, metrics=LlmMetrics(registry)).review(
        QUESTION, services=1, anomalies=1
    )

    usd = 2 * 0.003 + 0.4 * 0.015
    assert (answer.tokens_in, answer.tokens_out) == (2000, 400)
    assert answer.usd == usd
    usage = spend.incident("inc-1")
    assert (usage.requests, usage.tokens_in, usage.tokens_out, usage.usd) == (1, 2000, 400, usd)
    value = registry.get_sample_value
    assert value("ic_llm_requests_total", {"model": "small-model", "outcome": "used"}) == 1
    labels = {"model": "small-model", "direction": "output"}
    assert value("ic_llm_tokens_total", labels) == 400
    assert value("ic_llm_cost_usd_total", {"model": "small-model"}) == usd
    assert value("ic_llm_budget_remaining_usd", {"period": "day"}) == 1.0 - usd
    assert value("ic_llm_budget_remaining_usd", {"period": "month"}) == 10.0 - usd
