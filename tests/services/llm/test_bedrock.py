"""The real ChatBedrockConverse, pointed with endpoint_url at a local Converse stub: every path
(good, malformed, slow, throttled, budget spent) takes the expected way, over real HTTP."""

from __future__ import annotations

from datetime import date

import pytest

from bedrockkit import INPUT_TOKENS, OUTPUT_TOKENS, BedrockStub, bedrock_stub, dummy_credentials
from llmkit import QUESTION
from services.llm import Outcome, Spend, advisor_from_settings
from services.llm.advisor import Advisor
from services.settings import Settings

GOOD = {
    "hypotheses": [
        {"service": "checkout", "fault": "bad-deploy", "confidence": 0.9, "evidence": ["E1"]},
        {"service": "ledger", "fault": "bad-deploy", "confidence": 0.9, "evidence": ["E1"]},
    ]
}


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_credentials(monkeypatch)


def subject(stub: BedrockStub, **overrides: object) -> Advisor:
    values: dict[str, object] = {
        "llm_provider": "bedrock",
        "llm_endpoint_url": stub.url,
        # generous: a loaded machine must not turn an answer into a timeout (the timeout test
        # sets its own, short one)
        "llm_timeout_s": 10.0,
        "llm_retry_backoff_s": 0.01,
        **overrides,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]
    return advisor_from_settings(settings)


def test_a_good_answer_is_used_and_paid_for() -> None:
    with bedrock_stub(mode="good", answer=GOOD) as stub:
        answer = subject(stub).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.USED
    assert [(h.service, h.fault) for h in answer.kept] == [("checkout", "bad-deploy")]
    assert answer.discarded[0][1] == "service 'ledger' is not in the incident"
    assert (answer.tokens_in, answer.tokens_out) == (INPUT_TOKENS, OUTPUT_TOKENS)
    model, body = stub.requests[0]
    assert model == Settings(_env_file=None).llm_small_model  # type: ignore[call-arg]
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "Ranking"
    assert "E1 [checkout]" in stub.prompt()


def test_a_complex_incident_goes_to_the_large_model() -> None:
    with bedrock_stub(mode="good", answer=GOOD) as stub:
        subject(stub).review(QUESTION, services=5, anomalies=8)

    assert stub.requests[0][0] == Settings(_env_file=None).llm_large_model  # type: ignore[call-arg]


def test_a_malformed_answer_is_discarded() -> None:
    with bedrock_stub(mode="malformed") as stub:
        answer = subject(stub).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.MALFORMED
    assert answer.kept == ()
    assert len(stub.requests) == 1


def test_a_slow_answer_times_out() -> None:
    with bedrock_stub(mode="slow", answer=GOOD, delay_s=5.0) as stub:
        answer = subject(stub, llm_timeout_s=0.3).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.TIMEOUT
    assert len(stub.requests) == 1  # botocore's own retries are off: we retry throttling only


def test_throttling_is_retried_then_given_up() -> None:
    with bedrock_stub(mode="throttle") as stub:
        answer = subject(stub, llm_max_attempts=3).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.THROTTLED
    assert answer.detail == "ThrottlingException after 3 attempt(s)"
    assert len(stub.requests) == 3


def test_throttling_that_passes_is_answered() -> None:
    with bedrock_stub(mode="throttle", throttles=2, answer=GOOD) as stub:
        answer = subject(stub, llm_max_attempts=3).review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.USED
    assert len(stub.requests) == 3


def test_a_spent_budget_sends_no_request() -> None:
    with bedrock_stub(mode="good", answer=GOOD) as stub:
        advisor = subject(stub)
        advisor.spend = Spend(0.001, 1.0, today=lambda: date(2026, 3, 1))
        advisor.spend.record("earlier", 1000, 100, 0.001)
        answer = advisor.review(QUESTION, services=1, anomalies=1)

    assert answer.outcome is Outcome.BUDGET_SPENT
    assert stub.requests == []
