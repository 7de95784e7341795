"""What people do to an incident (acknowledge, assign, note, resolve, answer an approval), as
data.

The gateway builds an operation and hands it to the commander, wherever it runs: in its own
process, or in a worker at the other end of the alert stream (``to_json``/``from_json``).
``apply`` is the one place an operation meets the commander, so both paths behave alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from orchestrator.commander import Commander, IncidentNotFoundError, NotAwaitingApprovalError


@dataclass(frozen=True, slots=True)
class Acknowledge:
    incident_id: str
    by: str


@dataclass(frozen=True, slots=True)
class Assign:
    incident_id: str
    by: str
    to: str
    """Who owns the incident from now on."""


@dataclass(frozen=True, slots=True)
class Note:
    incident_id: str
    by: str
    text: str


@dataclass(frozen=True, slots=True)
class Resolve:
    incident_id: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Answer:
    incident_id: str
    by: str
    answer: Literal["grant", "deny"]
    digest: str
    """The approval request's token (``summary.token``) the person quoted."""
    comment: str = ""


Operation = Acknowledge | Assign | Note | Resolve | Answer
_KINDS: dict[str, type[Operation]] = {
    "acknowledge": Acknowledge, "assign": Assign, "note": Note, "resolve": Resolve,
    "answer": Answer,
}  # fmt: skip
_NAMES = {kind: name for name, kind in _KINDS.items()}

Outcome = Literal["changed", "unchanged", "not_found", "not_awaiting"]


def apply(commander: Commander, operation: Operation) -> bool:
    """Do ``operation``; True when it changed the incident. Raises the commander's
    ``IncidentNotFoundError`` and ``NotAwaitingApprovalError``."""
    match operation:
        case Acknowledge(incident_id, by):
            return commander.acknowledge(incident_id, by)
        case Assign(incident_id, by, to):
            return commander.assign(incident_id, by, to)
        case Note(incident_id, by, text):
            commander.note(incident_id, by, text)
            return True
        case Resolve(incident_id, by, reason):
            return commander.resolve(incident_id, by, reason)
        case Answer(incident_id, by, answer, digest, comment):
            commander.answer(incident_id, answer, by, digest, comment)
            return True


def outcome(commander: Commander, operation: Operation) -> tuple[Outcome, str]:
    """``apply``, with its lookups as an outcome and a message (what a remote caller gets)."""
    try:
        changed = apply(commander, operation)
    except IncidentNotFoundError as exc:
        return "not_found", str(exc)
    except NotAwaitingApprovalError as exc:
        return "not_awaiting", str(exc)
    return ("changed" if changed else "unchanged"), ""


def raise_for(result: Outcome, message: str) -> bool:
    """The inverse of ``outcome``: the commander's exception, or whether it changed."""
    if result == "not_found":
        raise IncidentNotFoundError(message)
    if result == "not_awaiting":
        raise NotAwaitingApprovalError(message)
    return result == "changed"


def to_json(operation: Operation) -> dict[str, Any]:
    return {"op": _NAMES[type(operation)], **asdict(operation)}


def from_json(data: dict[str, Any]) -> Operation:
    """``ValueError`` when ``data`` is not an operation ``to_json`` wrote."""
    fields = dict(data)
    kind = _KINDS.get(str(fields.pop("op", "")))
    if kind is None:
        raise ValueError(f"not an operation: {data.get('op')!r}")
    if not all(isinstance(value, str) for value in fields.values()):
        raise ValueError(f"malformed {data['op']} operation: every field is a string")
    try:
        operation = kind(**fields)
    except TypeError as exc:
        raise ValueError(f"malformed {data['op']} operation: {exc}") from exc
    if isinstance(operation, Answer) and operation.answer not in {"grant", "deny"}:
        raise ValueError(f"an answer is grant or deny, not {operation.answer!r}")
    return operation
