"""Read an estate file and check it before anything starts.

Every problem is reported with the file and the field (``services.checkout.depends_on``), all
of them at once: malformed YAML, unknown keys, a resource that does not fit the service's kind,
a dependency on a service the file does not name, a dependency cycle, and routes of two
services that one alert could match equally. Whether the resources exist in the account is
checked when the estate is realised against AWS (``services.estate.realise``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.aws.resources import Route
from services.errors import EstateFileError, ValidationIssue
from services.estate.model import EstateFile
from services.estate.routing import overlapping
from services.scenario.model import find_cycle
from services.yamldoc import BadDocumentError, read_mapping


def parse_estate(text: str, source: Path | str = "<text>") -> EstateFile:
    """Validate estate ``text`` (YAML); ``EstateFileError`` lists every issue."""
    try:
        document = read_mapping(text)
    except BadDocumentError as exc:
        raise EstateFileError(source, [exc.issue]) from exc
    try:
        estate = EstateFile.model_validate(document)
    except ValidationError as exc:
        raise EstateFileError(source, _issues(exc)) from exc
    issues = _consistency(estate)
    if issues:
        raise EstateFileError(source, issues)
    return estate


def load_estate(path: Path) -> EstateFile:
    """Read and check one estate file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise EstateFileError(path, [ValidationIssue("(file)", "no such file")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise EstateFileError(path, [ValidationIssue("(file)", f"cannot read: {exc}")]) from exc
    return parse_estate(text, path)


def routes_of(estate: EstateFile, source: Path | str = "") -> tuple[Route, ...]:
    """The file's matchers as the commander's routes, each saying where it was written."""
    prefix = f"{source}: " if source else ""
    return tuple(
        Route(
            service=name,
            labels=tuple(sorted(m.labels.items())),
            annotations=tuple(sorted(m.annotations.items())),
            dimensions=tuple(sorted(m.dimensions.items())),
            resource=m.resource,
            where=f"{prefix}services.{name}.routes[{index}]",
        )
        for name, spec in estate.services.items()
        for index, m in enumerate(spec.routes)
    )


def _consistency(estate: EstateFile) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    names = set(estate.services)
    for name, spec in estate.services.items():
        for dep in spec.depends_on:
            if dep == name:
                issues.append(
                    ValidationIssue(f"services.{name}.depends_on", "a service cannot need itself")
                )
            elif dep not in names:
                issues.append(
                    ValidationIssue(
                        f"services.{name}.depends_on",
                        f"{dep!r} is not a service of this file (services: "
                        f"{', '.join(sorted(names))})",
                    )
                )
    # A service needing itself is reported above; the cycle check looks for longer loops.
    links = {
        n: [d for d in s.depends_on if d in names and d != n]
        for n, s in sorted(estate.services.items())
    }
    cycle = find_cycle(links)
    if cycle:
        issues.append(
            ValidationIssue(
                f"services.{cycle[0]}.depends_on", "dependency cycle: " + " -> ".join(cycle)
            )
        )
    for a, b, shown in overlapping(routes_of(estate)):
        issues.append(
            ValidationIssue(
                a.where,
                f"overlaps {b.where} ({shown}): one alert could match routes of {a.service} and "
                f"{b.service} equally; make one more specific",
            )
        )
    return issues


def _issues(exc: ValidationError) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    for error in exc.errors():
        where = _path(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (see docs/estate.md for the keys of version 1)"
        elif error["type"] == "string_pattern_mismatch":
            message = f"{error['input']!r}: names are lower-case letters, digits and dashes"
        if error["type"] == "value_error" and message.startswith("resources."):
            for part in message.split("; "):
                field, _, text = part.partition(": ")
                issues.append(ValidationIssue(f"{where}.{field}", text))
            continue
        issues.append(ValidationIssue(where or "(top level)", message))
    return issues


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).startswith("[key]"):
            continue
        else:
            text = f"{text}.{part}" if text else str(part)
    return text
