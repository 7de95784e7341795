"""Chat models from settings: ``ChatBedrockConverse`` for each tier.

Timeouts are botocore's (connect and read); botocore's own retries are off, because the
advisor retries throttling itself with backoff, behind its circuit breaker. Any other LangChain
chat model can be handed to ``Advisor`` instead (tests pass fakes).
"""

from __future__ import annotations

from botocore.config import Config
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models import BaseChatModel

from services.llm.routing import Tier
from services.settings import Settings

MAX_OUTPUT_TOKENS = 1024


def model_id(settings: Settings, tier: Tier) -> str:
    return settings.llm_small_model if tier is Tier.SMALL else settings.llm_large_model


def bedrock_model(settings: Settings, tier: Tier) -> BaseChatModel:
    """The Bedrock Converse chat model for ``tier``, as ``settings`` configure it."""
    return ChatBedrockConverse(
        model_id=model_id(settings, tier),
        region_name=settings.llm_region or settings.aws_region,
        endpoint_url=settings.llm_endpoint_url,
        config=Config(
            connect_timeout=settings.llm_timeout_s,
            read_timeout=settings.llm_timeout_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
        ),
        temperature=0.0,
        max_tokens=MAX_OUTPUT_TOKENS,
    )
