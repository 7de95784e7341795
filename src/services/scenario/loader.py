"""Read scenario files, validate them against format v1 and find the built-in library.

Every problem is reported with the file and the field (``services[1].baseline.cpu``), all of
them at once, never only the first. Unknown nested fields do not stop a run; they come back as
warnings so a typo is still seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from services.errors import ScenarioNotFoundError, ScenarioValidationError, ValidationIssue
from services.scenario.model import FaultKind, FieldProblemsError, NoiseKind, Scenario
from services.yamldoc import BadDocumentError, read_mapping

LIBRARY_DIR = Path(__file__).parent / "library"
SCENARIO_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class LoadedScenario:
    """A validated scenario with where it came from and what was ignored in it."""

    scenario: Scenario
    source: Path
    warnings: list[str] = field(default_factory=list)


def parse_scenario(text: str, source: Path | str = "<text>") -> LoadedScenario:
    """Validate scenario ``text`` (YAML); raise ``ScenarioValidationError`` listing every issue."""
    try:
        document = read_mapping(text)
    except BadDocumentError as exc:
        raise ScenarioValidationError(source, [exc.issue]) from exc
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioValidationError(source, _issues(exc, document)) from exc
    return LoadedScenario(scenario, Path(str(source)), list(_unknown_fields(scenario, "")))


def load_scenario(path: Path) -> LoadedScenario:
    """Read and validate one scenario file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ScenarioNotFoundError(f"{path}: no such scenario file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioNotFoundError(f"{path}: cannot read scenario file: {exc}") from exc
    return parse_scenario(text, path)


def builtin_scenarios(extra: Path | None = None) -> dict[str, Path]:
    """Built-in scenario files by scenario name (file stem), plus those in ``extra``."""
    folders = [LIBRARY_DIR] + ([extra] if extra is not None else [])
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.suffix in SCENARIO_SUFFIXES:
                found.setdefault(path.stem, path)
    return found


def resolve_scenarios(refs: Sequence[str], extra: Path | None = None) -> list[Path]:
    """Scenario files for ``refs``: files, folders of files, or built-in scenario names."""
    library = builtin_scenarios(extra)
    paths: list[Path] = []
    for ref in refs:
        candidate = Path(ref)
        if candidate.is_dir():
            inside = sorted(p for p in candidate.iterdir() if p.suffix in SCENARIO_SUFFIXES)
            if not inside:
                raise ScenarioNotFoundError(f"{ref}: folder holds no .yaml scenario files")
            paths.extend(inside)
        elif candidate.is_file():
            paths.append(candidate)
        elif ref in library:
            paths.append(library[ref])
        else:
            raise ScenarioNotFoundError(
                f"{ref}: no such file, folder or built-in scenario "
                "(see `incident-commander scenario list`)"
            )
    return paths


def _issues(exc: ValidationError, document: Mapping[str, Any]) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        prefix = _path(error["loc"], document)
        if isinstance(cause, FieldProblemsError):
            for problem in cause.problems:
                where, _, message = problem.partition(": ")
                issues.append(ValidationIssue(_join(prefix, where), message))
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = (
                "unknown top-level key (format v1 allows: " + ", ".join(Scenario.model_fields) + ")"
            )
        elif error["type"] == "union_tag_not_found":
            message = "every event needs a kind; known kinds: " + ", ".join(_event_kinds())
        elif error["type"] == "union_tag_invalid":
            message = f"unknown event kind {error['input'].get('kind')!r}; known kinds: " + (
                ", ".join(_event_kinds())
            )
        issues.append(ValidationIssue(prefix or "(top level)", message))
    return issues


def _path(loc: tuple[int | str, ...], document: Mapping[str, Any]) -> str:
    """``('services', 1, 'baseline', 'cpu')`` as ``services[1].baseline.cpu``.

    Discriminator tags that pydantic adds for the event union (``events.0.bad-deploy.params``)
    are not part of the file and are dropped.
    """
    text = ""
    node: Any = document
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(node, Mapping) and part not in node and part in _event_kinds():
            continue
        else:
            text = f"{text}.{part}" if text else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return text


def _join(prefix: str, where: str) -> str:
    return f"{prefix}.{where}" if prefix else where


def _event_kinds() -> list[str]:
    return [kind.value for kind in FaultKind] + [kind.value for kind in NoiseKind]


def _unknown_fields(model: BaseModel, where: str) -> Iterator[str]:
    for key in model.model_extra or {}:
        yield f"{_join(where, key)}: unknown field, ignored"
    for name in type(model).model_fields:
        value = getattr(model, name)
        here = _join(where, name)
        if isinstance(value, BaseModel):
            yield from _unknown_fields(value, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _unknown_fields(item, f"{here}[{index}]")
