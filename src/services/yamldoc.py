"""Reading a YAML document that must be a mapping of keys (a scenario file, an estate file),
with the place of a syntax error said the way the files' own checks say a field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from services.errors import ValidationIssue


class BadDocumentError(ValueError):
    """Not YAML, or not a mapping; ``issue`` says where and what."""

    def __init__(self, issue: ValidationIssue) -> None:
        super().__init__(f"{issue.field}: {issue.message}")
        self.issue = issue


def read_mapping(text: str) -> Mapping[str, Any]:
    """The mapping ``text`` holds; ``BadDocumentError`` for bad YAML or anything else."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadDocumentError(ValidationIssue(where, problem)) from exc
    if not isinstance(document, Mapping):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise BadDocumentError(
            ValidationIssue("(top level)", f"expected a mapping of keys, got {kind}")
        )
    return document
