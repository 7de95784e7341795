"""Optional LLM reasoning: a chat model's second opinion on an incident's root cause.

The rule-based agents are the default and need none of this. With ``IC_LLM_PROVIDER=bedrock``
the diagnosis step also asks ``ChatBedrockConverse`` (any LangChain chat model can be
injected), routed by incident complexity (``routing``), within a daily and monthly budget
(``budget``), with timeouts, retries on throttling and a circuit breaker (``advisor``), on
masked prompts (``masking``, ``prompts``). The answer is checked against the gathered evidence
(``opinion``) and is one more input, never a trigger of any action.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pybreaker
from langchain_core.language_models import BaseChatModel

from services.llm.advisor import Advisor, Answer, Outcome, TierModel
from services.llm.budget import Prices, Spend
from services.llm.factory import bedrock_model, model_id
from services.llm.opinion import EvidenceItem, Question, RankedHypothesis, RuleHypothesis
from services.llm.routing import Tier, route
from services.metrics import LlmMetrics
from services.settings import Settings

__all__ = [
    "Advisor",
    "Answer",
    "EvidenceItem",
    "Outcome",
    "Prices",
    "Question",
    "RankedHypothesis",
    "RuleHypothesis",
    "Spend",
    "Tier",
    "TierModel",
    "advisor_from_settings",
    "configured_advisor",
    "route",
]


def advisor_from_settings(
    settings: Settings,
    metrics: LlmMetrics | None = None,
    chats: Mapping[Tier, BaseChatModel] | None = None,
    spend_path: Path | None = None,
) -> Advisor:
    """The advisor ``settings`` describe; ``chats`` replaces the Bedrock models (tests);
    ``spend_path``: the SQLite file its spend is kept in across restarts."""
    s = settings
    prices = {
        Tier.SMALL: Prices(s.llm_small_input_usd_per_1k, s.llm_small_output_usd_per_1k),
        Tier.LARGE: Prices(s.llm_large_input_usd_per_1k, s.llm_large_output_usd_per_1k),
    }
    given = chats or {}
    models = {
        tier: TierModel(model_id(s, tier), given.get(tier) or bedrock_model(s, tier), prices[tier])
        for tier in Tier
    }
    return Advisor(
        models=models,
        spend=Spend(
            settings.llm_daily_budget_usd, settings.llm_monthly_budget_usd, path=spend_path
        ),
        timeout_s=settings.llm_timeout_s,
        max_attempts=settings.llm_max_attempts,
        backoff_s=settings.llm_retry_backoff_s,
        breaker=pybreaker.CircuitBreaker(
            fail_max=settings.llm_breaker_failures,
            reset_timeout=settings.llm_breaker_reset_s,
            throw_new_error_on_trip=False,
        ),
        metrics=metrics,
    )


def configured_advisor(
    settings: Settings, metrics: LlmMetrics | None = None, spend_path: Path | None = None
) -> Advisor | None:
    """The advisor when a model is configured (``IC_LLM_PROVIDER``), else None: rules only."""
    if settings.llm_provider == "none":
        return None
    return advisor_from_settings(settings, metrics=metrics, spend_path=spend_path)
