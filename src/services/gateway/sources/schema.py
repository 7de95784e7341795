"""What every source's payload models share, and the one place their errors become
:class:`~services.errors.IngestError`.

Payload models ignore fields they do not read (senders add fields over time) and are strict
about the ones they do. A failed validation names the field by its path in the body as the
sender wrote it: ``alerts[0].labels``, ``payload.severity``, ``Records[0].Sns.Message.Trigger``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, JsonValue, ValidationError
from pydantic.alias_generators import to_camel, to_pascal
from pydantic_core import ErrorDetails

from services.errors import IngestError, ValidationIssue

MAX_DEPTH = 64
"""Deepest nesting a body may have. Alert payloads need about ten levels."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")

M = TypeVar("M", bound=BaseModel)


class Payload(BaseModel):
    """Base of every source payload model."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class CamelPayload(Payload):
    """A payload whose JSON fields are camelCase (``startsAt``, ``alarmName``)."""

    model_config = ConfigDict(alias_generator=to_camel)


class PascalPayload(Payload):
    """A payload whose JSON fields are PascalCase (``AlarmName``, ``TopicArn``)."""

    model_config = ConfigDict(alias_generator=to_pascal)


def _to_utc(value: datetime) -> datetime:
    """Times without an offset are taken as UTC; every time leaves here in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range once converted to UTC") from exc


def _unset_zero(value: datetime | None) -> datetime | None:
    """Go's zero time (``0001-01-01T00:00:00Z``) is how Alertmanager says "not set"."""
    return None if value is None or value.year == 1 else value


UtcTime = Annotated[datetime, AfterValidator(_to_utc)]
GoTime = Annotated[UtcTime | None, AfterValidator(_unset_zero)]


def join(at: str, *parts: str | int) -> str:
    """``at`` extended by keys and indexes: ``join("alerts", 0, "labels")`` is
    ``alerts[0].labels``; keys that are not identifiers are quoted (``["free space"]``)."""
    path = at
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path


def where(at: str) -> str:
    """The field name for the document at ``at``: ``body`` for the body itself."""
    return at or "body"


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


def _got(value: object) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"got {json.dumps(shown)}"
    if isinstance(value, bool | int | float) or value is None:
        return f"got {json.dumps(value)}"
    return f"got {json_type(value)}"


_MESSAGES = {
    "missing": "required",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected an array",
    "tuple_type": "expected an array",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "extra_forbidden": "not a field of this format",
}


def _issue(error: ErrorDetails, at: str) -> ValidationIssue:
    loc = [part for part in error["loc"] if isinstance(part, str | int)]
    field = where(join(at, *loc))
    kind = error["type"]
    if kind in ("missing", "extra_forbidden"):
        return ValidationIssue(field, _MESSAGES[kind])
    if kind == "value_error":  # our own validators' messages, without pydantic's prefix
        message = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        message = _MESSAGES.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    return ValidationIssue(field, f"{message}, {_got(error['input'])}")


def validate(model: type[M], data: object, at: str = "") -> M:
    """``data`` as ``model``, or an :class:`IngestError` naming every bad field."""
    if not isinstance(data, dict):
        raise IngestError(where(at), f"expected a JSON object, got {json_type(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(error, at) for error in exc.errors(include_url=False)]
        first, *more = issues
        raise IngestError(first.field, first.message, more=tuple(more)) from None


def member(document: JsonValue, at: str, *path: str | int) -> dict[str, JsonValue]:
    """The object at ``path`` in a document a model has accepted (the source's own object for
    one alert, kept as the alert's ``raw``)."""
    value: JsonValue = document
    for step in path:
        match step, value:
            case int(), list() if 0 <= step < len(value):
                value = value[step]
            case str(), dict() if step in value:
                value = value[step]
            case _:
                raise IngestError(where(join(at, *path)), "missing")
    if not isinstance(value, dict):
        raise IngestError(where(join(at, *path)), f"expected an object, got {json_type(value)}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: JsonValue) -> int:
    deepest = 0
    stack: list[tuple[JsonValue, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def decode_json(data: bytes | str, at: str = "") -> JsonValue:
    """The JSON document in ``data`` (UTF-8, as RFC 8259 requires), or an IngestError."""
    field = where(at)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise IngestError(field, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        text = data
    if not text.strip():
        raise IngestError(field, "empty; expected a JSON document")
    try:
        value: JsonValue = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise IngestError(
            field, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise IngestError(field, f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # NaN/Infinity, integers longer than Python will convert
        raise IngestError(field, f"malformed JSON: {exc}") from None
    if _depth(value) > MAX_DEPTH:
        raise IngestError(field, f"nested more than {MAX_DEPTH} levels deep")
    return value
