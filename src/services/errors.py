"""The commander's exception hierarchy.

Every error the commander raises on purpose is a ``CommanderError``::

    CommanderError
    ├── ConfigurationError          settings that cannot work together
    ├── ScenarioError               a scenario file that cannot be used
    │   ├── ScenarioNotFoundError   no such file or built-in scenario
    │   └── ScenarioValidationError the file breaks format v1 (carries every issue found)
    ├── AwsPortError                the AWS endpoint could not be reached or set up
    │   └── EmulatorError           the embedded emulator failed to start
    └── SimulationError             the simulated estate could not be built or stepped

Errors crossing an agent boundary are values, not exceptions (see ``ActionResult``); the CLI and
the gateway translate these classes to exit codes and HTTP statuses, each in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CommanderError(Exception):
    """Base class of every error the commander raises on purpose."""


class ConfigurationError(CommanderError):
    """Settings that cannot work together."""


class ScenarioError(CommanderError):
    """A scenario file that cannot be used."""


class ScenarioNotFoundError(ScenarioError):
    """Neither a readable file nor the name of a built-in scenario."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem in a scenario file: where it is and what is wrong."""

    field: str
    message: str


class ScenarioValidationError(ScenarioError):
    """A scenario file that breaks format v1; lists every problem, each with its field."""

    def __init__(self, source: Path | str, issues: list[ValidationIssue]) -> None:
        self.source = str(source)
        self.issues = issues
        lines = "\n".join(f"  {source}: {issue.field}: {issue.message}" for issue in issues)
        noun = "problem" if len(issues) == 1 else "problems"
        super().__init__(f"{source}: {len(issues)} {noun} in scenario file\n{lines}")


class AwsPortError(CommanderError):
    """The AWS endpoint could not be reached or set up."""


class EmulatorError(AwsPortError):
    """The embedded AWS emulator failed to start."""


class SimulationError(CommanderError):
    """The simulated estate could not be built or stepped."""
