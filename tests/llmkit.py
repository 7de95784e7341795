"""Fakes for the LLM advisor: langchain-core's fake chat model, taught tool calling."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pybreaker
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from services.llm import Advisor, EvidenceItem, Prices, Question, RuleHypothesis, Spend, Tier
from services.llm.advisor import TierModel

QUESTION = Question(
    incident_id="inc-1",
    services=("checkout", "payments-db"),
    faults=("bad-deploy", "connection-exhaustion"),
    evidence=(
        EvidenceItem("E1", "checkout", "log: NullPointerException at CheckoutHandler"),
        EvidenceItem("E2", "payments-db", "connections x3.1"),
    ),
    hypotheses=(RuleHypothesis("checkout", "bad-deploy", 0.8, ("E1",)),),
)
PRICES = Prices(input_per_1k=0.003, output_per_1k=0.015)


def ranking_message(
    hypotheses: list[dict[str, Any]], tokens: tuple[int, int] = (1000, 200)
) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "Ranking", "args": {"hypotheses": hypotheses}, "id": "call-1"}],
        usage_metadata={
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    )


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel answers from ``messages``; this one also accepts tools (ignored:
    the scripted answers already are tool calls), counts calls and can fail or stall first."""

    calls: int = 0
    fail_with: list[BaseException] = Field(default_factory=list)
    delay_s: float = 0.0
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls += 1
        self.seen.append(messages)
        if self.fail_with:
            raise self.fail_with.pop(0)
        if self.delay_s:
            time.sleep(self.delay_s)
        return super()._generate(messages, *args, **kwargs)


def fake(answers: list[AIMessage], **kwargs: Any) -> ToolCallingFake:
    return ToolCallingFake(messages=iter(answers), **kwargs)


def advisor(
    chat: ToolCallingFake,
    *,
    spend: Spend | None = None,
    breaker: pybreaker.CircuitBreaker | None = None,
    timeout_s: float = 5.0,
    sleeps: list[float] | None = None,
    **kwargs: Any,
) -> Advisor:
    sleep: Callable[[float], None] = sleeps.append if sleeps is not None else lambda _: None
    return Advisor(
        models={tier: TierModel(f"{tier.value}-model", chat, PRICES) for tier in Tier},
        spend=spend or Spend(daily_usd=10.0, monthly_usd=100.0),
        timeout_s=timeout_s,
        breaker=breaker
        or pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60, throw_new_error_on_trip=False),
        sleep=sleep,
        **kwargs,
    )
