"""The diagnosis node with a model's second opinion: merged when the evidence supports it,
otherwise rules only, and the incident's timeline says which, through the real
ChatBedrockConverse against a local Converse stub, in whole scenario runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.model import Hypothesis
from bedrockkit import BedrockStub, bedrock_stub, dummy_credentials
from llmkit import QUESTION
from orchestrator.result import ScenarioResult
from orchestrator.runner import RunOptions, run_scenario
from orchestrator.second_opinion import LLM_CONFIDENCE_CAP, merge
from services.aws.port import AwsPort
from services.llm import Advisor, Answer, Outcome, RankedHypothesis, Tier
from services.llm import advisor_from_settings as build
from services.scenario.loader import builtin_scenarios, load_scenario
from services.settings import Settings

RULES = [
    Hypothesis(service="checkout", fault="bad-deploy", confidence=0.42, evidence=["log: NPE"]),
    Hypothesis(service="payments-db", fault="connection-exhaustion", confidence=0.35,
               evidence=["connections x3.1"]),
]  # fmt: skip
UNKNOWN = [Hypothesis(service="unknown", fault="unknown", confidence=0.0, evidence=["weak"])]


def used(*kept: RankedHypothesis) -> Answer:
    return Answer(Outcome.USED, "m", Tier.SMALL, "", kept=kept)


def opinion(service: str, fault: str, confidence: float, *evidence: str) -> RankedHypothesis:
    return RankedHypothesis(
        service=service, fault=fault, confidence=confidence, evidence=list(evidence)
    )


def test_agreement_raises_confidence_only_up_to_the_cap() -> None:
    merged = merge(
        RULES, used(opinion("payments-db", "connection-exhaustion", 0.95, "E2")), QUESTION
    )

    assert [(h["service"], h["confidence"]) for h in merged] == [
        ("payments-db", LLM_CONFIDENCE_CAP),
        ("checkout", 0.42),
    ]
    assert "model m agrees" in merged[0]["evidence"]


def test_a_new_hypothesis_enters_capped_with_its_cited_evidence() -> None:
    merged = merge(
        UNKNOWN, used(opinion("payments-db", "connection-exhaustion", 0.9, "E2")), QUESTION
    )

    assert merged == [
        Hypothesis(
            service="payments-db",
            fault="connection-exhaustion",
            confidence=LLM_CONFIDENCE_CAP,
            evidence=["model m:", "connections x3.1"],
        )
    ]


def test_a_weak_opinion_does_not_replace_unknown() -> None:
    merged = merge(UNKNOWN, used(opinion("checkout", "bad-deploy", 0.1, "E1")), QUESTION)

    assert merged == UNKNOWN


@pytest.mark.parametrize("outcome", [o for o in Outcome if o is not Outcome.USED])
def test_anything_but_a_used_answer_leaves_the_rules_alone(outcome: Outcome) -> None:
    answer = Answer(outcome, "m", Tier.SMALL, "", kept=(opinion("checkout", "disk-full", 1, "E1"),))

    assert merge(RULES, answer, QUESTION) == RULES


# -- whole scenarios through the real ChatBedrockConverse ---------------------------------------


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[BedrockStub]:
    dummy_credentials(monkeypatch)
    with bedrock_stub(**getattr(request, "param", {"mode": "echo"})) as running:
        yield running


def advisor_on(stub: BedrockStub, **overrides: object) -> Advisor:
    values: dict[str, object] = {
        "llm_provider": "bedrock",
        "llm_endpoint_url": stub.url,
        "llm_timeout_s": 10.0,  # generous on a loaded machine; the timeout case sets 0.3
        "llm_retry_backoff_s": 0.01,
        **overrides,
    }
    return build(Settings(_env_file=None, **values))  # type: ignore[call-arg, arg-type]


def run(aws: AwsPort, name: str, llm: Advisor) -> ScenarioResult:
    return run_scenario(aws, load_scenario(builtin_scenarios()[name]), RunOptions(llm=llm))


def diagnosis_lines(result: ScenarioResult) -> list[str]:
    return [t["event"] for t in result.timeline if " diagnosis: " in t["event"]]


EXTRA = [
    {"service": "checkout", "fault": "memory-leak", "confidence": 0.9, "evidence": ["E1"]},
    {"service": "nowhere", "fault": "bad-deploy", "confidence": 0.9, "evidence": ["E1"]},
]


@pytest.mark.slow
@pytest.mark.parametrize("stub", [{"mode": "echo", "extra": EXTRA}], indirect=True)
def test_a_good_answer_is_merged_and_the_timeline_says_so(aws: AwsPort, stub: BedrockStub) -> None:
    result = run(aws, "checkout-bad-deploy", advisor_on(stub))

    assert result.passed, result.failed_expectations
    assert stub.requests
    assert ("checkout", "memory-leak", LLM_CONFIDENCE_CAP) in [
        (h.service, h.fault, h.confidence) for h in result.hypotheses
    ]
    lines = diagnosis_lines(result)
    assert any(" used: " in line and "memory-leak on checkout" in line for line in lines)
    assert any("discarded bad-deploy on nowhere: service 'nowhere' is not" in x for x in lines)
    assert any("with the model's opinion" in line for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stub", "overrides", "said", "requests"),
    [
        ({"mode": "malformed"}, {}, "malformed, rules only: unusable answer", None),
        ({"mode": "slow", "delay_s": 30}, {"llm_timeout_s": 0.3}, "timeout, rules only", None),
        ({"mode": "throttle"}, {"llm_max_attempts": 3}, "throttled, rules only: Thr", 3),
        (
            {"mode": "echo"},
            {"llm_daily_budget_usd": 0, "llm_monthly_budget_usd": 0},
            "budget_spent, rules only: the monthly LLM budget is spent",
            0,
        ),
    ],
    indirect=["stub"],
    ids=["malformed", "timeout", "throttling", "budget"],
)
def test_a_failed_model_leaves_the_rules_in_charge_and_the_timeline_says_so(
    aws: AwsPort,
    stub: BedrockStub,
    overrides: dict[str, object],
    said: str,
    requests: int | None,
) -> None:
    result = run(aws, "checkout-bad-deploy", advisor_on(stub, **overrides))

    assert result.passed, result.failed_expectations
    assert result.root_cause is not None
    assert (result.root_cause.service, result.root_cause.fault) == ("checkout", "bad-deploy")
    lines = diagnosis_lines(result)
    assert any(said in line for line in lines), lines
    assert not any("with the model's opinion" in line for line in lines)
    rounds = sum(1 for line in lines if ": round " in line)
    if requests is not None:
        assert len(stub.requests) == requests * rounds


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "checkout-bad-deploy",
        "inventory-db-latency-cascade",
        "deploy-key-compromise",
        "payments-db-connection-exhaustion",
    ],
)
def test_library_scenarios_pass_with_the_model_as_without(
    aws: AwsPort, stub: BedrockStub, name: str
) -> None:
    result = run(aws, name, advisor_on(stub))

    assert result.passed, result.failed_expectations
    assert stub.requests
    assert any(" used: " in line for line in diagnosis_lines(result))
