"""What the model is asked and what it may answer, and the check its answer must pass.

The model sees numbered evidence (``E1``, ``E2`` ...) and may only cite those ids. A ranked
hypothesis is kept only when its service is one of the incident's, its fault is a known kind,
and it cites at least one piece of evidence, all of which exist. Everything else is discarded,
with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    id: str
    service: str
    text: str


@dataclass(frozen=True, slots=True)
class RuleHypothesis:
    """A hypothesis the rule-based diagnosis already ranked, with the ids of its evidence."""

    service: str
    fault: str
    confidence: float
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Question:
    """One incident, as put to the model."""

    incident_id: str
    services: tuple[str, ...]
    faults: tuple[str, ...]
    evidence: tuple[EvidenceItem, ...]
    hypotheses: tuple[RuleHypothesis, ...]
    anomalies: tuple[str, ...] = ()


class RankedHypothesis(BaseModel):
    """One suspected root cause."""

    service: str = Field(description="the service at fault; one of the incident's services")
    fault: str = Field(description="the fault kind; one of the listed kinds")
    confidence: float = Field(ge=0, le=1, description="how likely, 0 to 1")
    evidence: list[str] = Field(description="ids of the evidence items that support it (E1 ...)")
    rationale: str = Field(default="", max_length=400, description="one sentence")


class Ranking(BaseModel):
    """Root-cause hypotheses for the incident, most likely first, each citing evidence ids."""

    hypotheses: list[RankedHypothesis]


@dataclass(frozen=True, slots=True)
class Checked:
    kept: tuple[RankedHypothesis, ...]
    discarded: tuple[tuple[RankedHypothesis, str], ...]


def check(ranking: Ranking, question: Question) -> Checked:
    """Keep the hypotheses the incident's evidence supports; discard the rest with a reason."""
    ids = {item.id for item in question.evidence}
    kept: list[RankedHypothesis] = []
    discarded: list[tuple[RankedHypothesis, str]] = []
    for hyp in ranking.hypotheses:
        unknown = [e for e in hyp.evidence if e not in ids]
        if hyp.service not in question.services:
            discarded.append((hyp, f"service {hyp.service!r} is not in the incident"))
        elif hyp.fault not in question.faults:
            discarded.append((hyp, f"fault {hyp.fault!r} is not a known kind"))
        elif not hyp.evidence:
            discarded.append((hyp, "cites no evidence"))
        elif unknown:
            discarded.append((hyp, f"cites evidence that was not gathered: {', '.join(unknown)}"))
        else:
            kept.append(hyp)
    return Checked(kept=tuple(kept), discarded=tuple(discarded))


def evidence_texts(question: Question, ids: Sequence[str]) -> list[str]:
    """The (unmasked) text of the evidence items named by ``ids``."""
    by_id = {item.id: item for item in question.evidence}
    return [by_id[i].text for i in ids if i in by_id]
