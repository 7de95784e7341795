"""The advisor: asks a chat model for a second opinion on an incident's root cause.

One ``review`` is one question. In order: the FinOps route picks the model tier; a spent
budget answers ``budget_spent`` without sending anything; an open circuit breaker answers
``breaker_open``; otherwise the masked prompt goes out with a timeout, throttling is retried
with exponential backoff, and the structured answer is checked against the evidence. Every
path returns an ``Answer`` (errors are values), whose ``outcome`` the caller writes into the
incident's timeline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pybreaker
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from services.llm import prompts
from services.llm.budget import Prices, Spend
from services.llm.opinion import Question, RankedHypothesis, Ranking, check
from services.llm.routing import Tier, route
from services.metrics import LlmMetrics

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException"}
)


MAX_BACKOFF_S = 30.0


class Outcome(StrEnum):
    USED = "used"
    """At least one hypothesis passed the evidence check."""
    DISCARDED = "discarded"
    """The model answered, but no hypothesis passed the check."""
    MALFORMED = "malformed"
    TIMEOUT = "timeout"
    THROTTLED = "throttled"
    ERROR = "error"
    BREAKER_OPEN = "breaker_open"
    BUDGET_SPENT = "budget_spent"


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    model: str
    tier: Tier
    detail: str
    kept: tuple[RankedHypothesis, ...] = ()
    discarded: tuple[tuple[RankedHypothesis, str], ...] = ()
    attempts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0


@dataclass(frozen=True, slots=True)
class TierModel:
    id: str
    chat: BaseChatModel
    prices: Prices


class _TimeoutError(Exception):
    pass


class _MalformedError(Exception):
    pass


def _throttled(exc: BaseException) -> bool:
    return (
        isinstance(exc, ClientError)
        and exc.response.get("Error", {}).get("Code") in THROTTLING_CODES
    )


@dataclass
class Advisor:
    """A model's second opinion on root causes, within budget, time and a circuit breaker."""

    models: Mapping[Tier, TierModel]
    spend: Spend
    timeout_s: float = 20.0
    max_attempts: int = 3
    backoff_s: float = 1.0
    breaker: pybreaker.CircuitBreaker = field(
        default_factory=lambda: pybreaker.CircuitBreaker(
            fail_max=5, reset_timeout=60, throw_new_error_on_trip=False
        )
    )
    metrics: LlmMetrics | None = None
    sleep: Callable[[float], None] = time.sleep

    def review(self, question: Question, *, services: int, anomalies: int) -> Answer:
        """Ask the routed model about ``question`` (an incident over ``services`` services with
        ``anomalies`` anomalous metrics); every failure is an ``Answer`` too."""
        tier = route(services, anomalies, [h.confidence for h in question.hypotheses])
        model = self.models[tier]
        answer = self._review(question, tier, model)
        self._observe(answer)
        return answer

    def _review(self, question: Question, tier: Tier, model: TierModel) -> Answer:
        def fail(outcome: Outcome, detail: str, attempts: int = 0) -> Answer:
            return Answer(outcome, model.id, tier, detail, attempts=attempts)

        spent = self.spend.exhausted()
        if spent is not None:
            return fail(Outcome.BUDGET_SPENT, f"the {spent} LLM budget is spent")
        attempts = 0
        usage: list[AIMessage] = []

        def ask() -> Ranking:
            nonlocal attempts
            attempts += 1
            return self._ask(model, question, usage)

        try:
            ranking = self.breaker.call(self._with_retries, ask)
        except pybreaker.CircuitBreakerError:
            return fail(Outcome.BREAKER_OPEN, "the model's circuit breaker is open", attempts)
        except _TimeoutError:
            return fail(Outcome.TIMEOUT, f"no answer within {self.timeout_s:g}s", attempts)
        except _MalformedError as exc:
            answer = fail(Outcome.MALFORMED, f"unusable answer: {exc}", attempts)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            outcome = Outcome.THROTTLED if _throttled(exc) else Outcome.ERROR
            return fail(outcome, f"{code} after {attempts} attempt(s)", attempts)
        except Exception as exc:  # a model's transport can fail in many ways: rules take over
            return fail(Outcome.ERROR, f"{type(exc).__name__}: {exc}"[:200], attempts)
        else:
            checked = check(ranking, question)
            outcome = Outcome.USED if checked.kept else Outcome.DISCARDED
            answer = Answer(outcome, model.id, tier, "", checked.kept, checked.discarded, attempts)
        return self._account(answer, question, model, usage)

    def _with_retries(self, ask: Callable[[], Ranking]) -> Ranking:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_random_exponential(multiplier=self.backoff_s, max=MAX_BACKOFF_S),
            retry=retry_if_exception(_throttled),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(ask)

    def _ask(self, model: TierModel, question: Question, usage: list[AIMessage]) -> Ranking:
        structured = model.chat.with_structured_output(Ranking, include_raw=True)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["out"] = structured.invoke(prompts.messages(question))
            except BaseException as exc:  # handed to the caller's thread below
                result["exc"] = exc

        worker = threading.Thread(target=run, name="llm-request", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            raise _TimeoutError
        if "exc" in result:
            exc = result["exc"]
            if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
                raise _TimeoutError from exc
            raise exc
        out = result["out"]
        raw = out.get("raw") if isinstance(out, dict) else None
        if isinstance(raw, AIMessage):
            usage.append(raw)
        parsed = out.get("parsed") if isinstance(out, dict) else None
        if isinstance(parsed, Ranking):
            return parsed
        error = out.get("parsing_error") if isinstance(out, dict) else None
        raise _MalformedError(
            " ".join(str(error).split())[:160] if error else "no Ranking in the answer"
        )

    def _account(
        self, answer: Answer, question: Question, model: TierModel, usage: list[AIMessage]
    ) -> Answer:
        tokens_in = sum(m.usage_metadata["input_tokens"] for m in usage if m.usage_metadata)
        tokens_out = sum(m.usage_metadata["output_tokens"] for m in usage if m.usage_metadata)
        usd = model.prices.cost(tokens_in, tokens_out)
        self.spend.record(question.incident_id, tokens_in, tokens_out, usd)
        return Answer(
            answer.outcome,
            answer.model,
            answer.tier,
            answer.detail,
            answer.kept,
            answer.discarded,
            answer.attempts,
            tokens_in,
            tokens_out,
            usd,
        )

    def _observe(self, answer: Answer) -> None:
        if self.metrics is None:
            return
        self.metrics.requests.labels(answer.model, answer.outcome.value).inc()
        if answer.tokens_in or answer.tokens_out:
            self.metrics.tokens.labels(answer.model, "input").inc(answer.tokens_in)
            self.metrics.tokens.labels(answer.model, "output").inc(answer.tokens_out)
            self.metrics.cost.labels(answer.model).inc(answer.usd)
        day, month = self.spend.remaining()
        self.metrics.budget_remaining.labels("day").set(day)
        self.metrics.budget_remaining.labels("month").set(month)
