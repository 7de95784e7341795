"""The result object of a scenario run (spec: "Expectations and the run's result") and the pure
function that judges a run against the scenario's ``expect`` block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from services.scenario.model import Expect


class RootCauseResult(BaseModel):
    service: str
    fault: str
    rank: int
    confidence: float


class ScenarioResult(BaseModel):
    """One scenario's outcome; ``--json`` prints exactly this, one object per line."""

    scenario: str
    passed: bool
    detected: bool
    ttd_s: int | None = None
    incident_ids: list[str] = Field(default_factory=list)
    root_cause: RootCauseResult | None = None
    hypotheses: list[RootCauseResult] = Field(default_factory=list)
    """Every hypothesis of the first confirmed incident's last diagnosis, best first."""
    root_causes: list[RootCauseResult] = Field(default_factory=list)
    """Each confirmed incident's top cause, in the order they were confirmed."""
    proposed: list[str] = Field(default_factory=list)
    executed: list[str] = Field(default_factory=list)
    forbidden_executed: list[str] = Field(default_factory=list)
    approval_requested: bool = False
    recovered: bool
    ttr_s: int | None = None
    downtime_cost_usd: float
    spend_usd: float = 0.0
    """What the estate's capacity cost over the run (capacity x unit price x time)."""
    failed_expectations: list[str] = Field(default_factory=list)
    source: str
    seed: int
    steps: int
    wall_s: float
    timeline: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the commander did, and what the world did, in one run."""

    detected: bool
    ttd_s: int | None
    root_cause: RootCauseResult | None
    causes: list[RootCauseResult]
    """Each confirmed incident's top cause, in the order they were confirmed."""
    executed: list[str]
    approval_requested: bool
    recovered: bool
    ttr_s: int | None
    has_faults: bool


def failed_expectations(expect: Expect | None, outcome: Outcome) -> list[str]:
    """Each expectation of ``expect`` that ``outcome`` does not meet, in words."""
    if expect is None:
        return []
    failed: list[str] = []
    if expect.incident is True and not outcome.detected:
        failed.append("incident: expected an incident, none was opened")
    if expect.incident is False and outcome.executed:
        failed.append(
            f"incident: noise only, yet actions were executed ({', '.join(outcome.executed)})"
        )
    if expect.detect_within is not None and outcome.detected:
        if outcome.ttd_s is None or outcome.ttd_s > expect.detect_within:
            failed.append(
                f"detect_within: detected after {outcome.ttd_s}s, expected {expect.detect_within}s"
            )
    elif expect.detect_within is not None:
        failed.append("detect_within: not detected")
    named = {(c.service, c.fault) for c in outcome.causes}
    if expect.root_cause is not None:
        got = outcome.root_cause
        wanted = (expect.root_cause.service, expect.root_cause.fault.value)
        if got is None:
            failed.append("root_cause: no root cause named")
        elif expect.root_causes is not None:
            if wanted not in named:
                failed.append(
                    f"root_cause: {'/'.join(wanted)} is no confirmed incident's top cause "
                    f"(named: {_causes(outcome.causes)})"
                )
        elif (got.service, got.fault) != wanted:
            failed.append(
                f"root_cause: named {got.service}/{got.fault}, expected {'/'.join(wanted)}"
            )
    executed = set(outcome.executed)
    for index, cause in enumerate(expect.root_causes or []):
        wanted = (cause.service, cause.fault.value)
        if wanted not in named:
            failed.append(
                f"root_causes[{index}]: {'/'.join(wanted)} is no confirmed incident's top cause "
                f"(named: {_causes(outcome.causes)})"
            )
        if cause.any_of and not executed & set(cause.any_of):
            failed.append(
                f"root_causes[{index}].any_of: none of {', '.join(cause.any_of)} was executed "
                f"(for {'/'.join(wanted)})"
            )
    remediation = expect.remediation
    if remediation is not None:
        if remediation.any_of and not executed & set(remediation.any_of):
            failed.append(
                f"remediation.any_of: none of {', '.join(remediation.any_of)} was executed"
            )
        forbidden = sorted(executed & set(remediation.forbidden))
        if forbidden:
            failed.append(f"remediation.forbidden: executed {', '.join(forbidden)}")
        if remediation.approval == "required" and not outcome.approval_requested:
            failed.append("remediation.approval: required, but no approval was asked")
        if remediation.approval == "auto" and outcome.approval_requested:
            failed.append("remediation.approval: should run unattended, but approval was asked")
    if expect.recovered_within is not None:
        if not outcome.recovered:
            failed.append("recovered_within: not recovered by the end of the run")
        elif outcome.ttr_s is not None and outcome.ttr_s > expect.recovered_within:
            failed.append(
                f"recovered_within: recovered after {outcome.ttr_s}s, "
                f"expected {expect.recovered_within}s"
            )
    return failed


def _causes(causes: list[RootCauseResult]) -> str:
    return ", ".join(f"{c.service}/{c.fault}" for c in causes) or "none"
