"""The prompts put to the model. Everything rendered here is masked before it is sent."""

from __future__ import annotations

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from services.llm.masking import mask
from services.llm.opinion import Question

SYSTEM = """\
You are the diagnosis agent of an incident commander for an AWS estate. Rank the most likely
root causes of the incident below. Rules:
- Name only services from the incident's services and faults from the known fault kinds.
- Support every hypothesis with the ids of the evidence items (E1, E2 ...) that show it; cite
  only ids that are listed. A hypothesis without evidence is worthless.
- The rule-based diagnosis is given for reference; agree, reorder or add, but say so only when
  the evidence supports it. Confidence is 0 to 1.
- Answer with the Ranking tool only."""

HUMAN = """\
Incident {incident_id}
Services: {services}
Known fault kinds: {faults}
Anomalies:
{anomalies}
Evidence:
{evidence}
Rule-based hypotheses:
{hypotheses}"""

TEMPLATE = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", HUMAN)])


def render_hypotheses(question: Question) -> str:
    """One line per rule hypothesis: ``- H1 service=... fault=... confidence=... evidence=...``."""
    return (
        "\n".join(
            f"- H{n} service={h.service} fault={h.fault} confidence={h.confidence:.2f} "
            f"evidence={','.join(h.evidence)}"
            for n, h in enumerate(question.hypotheses, start=1)
        )
        or "- none reached the confidence floor"
    )


def messages(question: Question) -> list[BaseMessage]:
    """The masked messages for ``question``."""
    rendered = TEMPLATE.format_messages(
        incident_id=question.incident_id,
        services=", ".join(question.services),
        faults=", ".join(question.faults),
        anomalies="\n".join(f"- {a}" for a in question.anomalies) or "- none listed",
        evidence="\n".join(f"- {e.id} [{e.service}] {e.text}" for e in question.evidence)
        or "- none",
        hypotheses=render_hypotheses(question),
    )
    for message in rendered:
        if isinstance(message.content, str):
            message.content = mask(message.content)
    return rendered
