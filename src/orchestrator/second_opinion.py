"""A chat model's second opinion on a diagnosis (issue 8): the question it is asked (the
incident's services in scope and numbered evidence, masked by ``services.llm`` before it
leaves), how its checked answer merges into the rules' ranking, and what the timeline says.

The model is one more input, never a verdict: its confidence is capped at
``LLM_CONFIDENCE_CAP``, a hypothesis that cites no gathered evidence has already been
discarded by ``services.llm.opinion``, and when the model is off, slow, failing, over budget
or wrong the rules' ranking stands unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents import diagnosis
from agents.model import Hypothesis
from orchestrator.context import RunContext
from orchestrator.state import IncidentState
from services.llm import Answer, EvidenceItem, Outcome, Question, RuleHypothesis
from services.llm.opinion import evidence_texts
from services.scenario.model import FaultKind

LLM_CONFIDENCE_CAP = 0.5
"""A model's hypothesis never counts for more than this: it is one input, not a verdict."""
LOG_LINES_PER_SERVICE = 5
MAX_HYPOTHESES = 3


def question(
    state: IncidentState,
    ctx: RunContext,
    found: Sequence[Hypothesis],
    gathered: diagnosis.Evidence,
) -> Question:
    """The incident as the model sees it: services in scope and numbered evidence."""
    named = {h["service"] for h in found} | set(state.get("services", []))
    scope = set(named)
    for caller, deps in ctx.estate.depends_on.items():
        if caller in named:
            scope.update(deps)
        scope.update(caller for d in deps if d in named)
    scope &= set(ctx.estate.services)
    items: dict[tuple[str, str], EvidenceItem] = {}

    def add(service: str, text: str) -> str:
        key = (service, text)
        if key not in items:
            items[key] = EvidenceItem(id=f"E{len(items) + 1}", service=service, text=text)
        return items[key].id

    rules = [
        RuleHypothesis(
            h["service"],
            h["fault"],
            h["confidence"],
            tuple(add(h["service"], e) for e in h["evidence"]),
        )
        for h in found
        if h["service"] in scope
    ]
    anomalies = []
    for a in state.get("anomalies", []):
        if a["service"] in scope:
            text = (
                f"{a['metric']} anomalous (score {a['score']}): "
                f"{a['baseline']:.4g} -> {a['latest']:.4g}"
            )
            anomalies.append(f"{a['service']} {text}")
            add(a["service"], text)
    for service, kind in gathered.findings:
        if service in scope:
            add(service, f"security finding: {kind}")
    for service in sorted(scope):
        for index in gathered.changes.get(service, []):
            add(
                service,
                f"revision changed {index - gathered.onset_index:+d} step(s) from the onset",
            )
        lines = list(dict.fromkeys(gathered.logs.get(service, [])))[-LOG_LINES_PER_SERVICE:]
        for line in lines:
            add(service, f"log: {line[:200]}")
    return Question(
        incident_id=state["incident_id"],
        services=tuple(sorted(scope)),
        faults=tuple(k.value for k in FaultKind),
        evidence=tuple(items.values()),
        hypotheses=tuple(rules),
        anomalies=tuple(anomalies),
    )


def merge(rules: Sequence[Hypothesis], answer: Answer, question: Question) -> list[Hypothesis]:
    """The rules' hypotheses with the model's checked ones merged in.

    A model hypothesis the rules also hold can raise its confidence up to
    ``LLM_CONFIDENCE_CAP``; a new one enters with at most that confidence. The ranking is then
    re-sorted, so the model can reorder or add, but never outweigh strong rule-based evidence.
    """
    if answer.outcome is not Outcome.USED:
        return list(rules)
    merged = {
        (h["service"], h["fault"]): Hypothesis(**h) for h in rules if h["service"] != "unknown"
    }
    for opinion in answer.kept:
        capped = round(min(opinion.confidence, LLM_CONFIDENCE_CAP), 3)
        key = (opinion.service, opinion.fault)
        if key in merged:
            held = merged[key]
            if capped > held["confidence"]:
                merged[key] = Hypothesis(
                    service=held["service"],
                    fault=held["fault"],
                    confidence=capped,
                    evidence=[*held["evidence"], f"model {answer.model} agrees"],
                )
            continue
        merged[key] = Hypothesis(
            service=opinion.service,
            fault=opinion.fault,
            confidence=capped,
            evidence=[
                f"model {answer.model}: {opinion.rationale}".strip(),
                *evidence_texts(question, opinion.evidence),
            ],
        )
    ranked = sorted(merged.values(), key=lambda h: (-h["confidence"], h["service"]))
    if not ranked or ranked[0]["confidence"] < diagnosis.MIN_CONFIDENCE:
        return list(rules)
    return ranked[:MAX_HYPOTHESES]


def note(answer: Answer) -> str:
    """What the model did, for the timeline."""
    who = f"model {answer.model} ({answer.tier.value})"
    cost = f"{answer.tokens_in + answer.tokens_out} tokens, ${answer.usd:.4f}"
    dropped = "; ".join(f"discarded {h.fault} on {h.service}: {why}" for h, why in answer.discarded)
    if answer.outcome is Outcome.USED:
        kept = ", ".join(f"{h.fault} on {h.service} ({h.confidence:.2f})" for h in answer.kept)
        return f"{who} used: {kept}" + (f"; {dropped}" if dropped else "") + f" ({cost})"
    if answer.outcome is Outcome.DISCARDED:
        return f"{who} answer discarded, rules only: {dropped or 'no hypotheses'} ({cost})"
    return f"{who} {answer.outcome.value}, rules only: {answer.detail}"
