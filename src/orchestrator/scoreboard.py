"""The scenario-suite scoreboard: how good the commander is, per scenario and in total. Pure.

Each scenario is run twice on the same seed: with the commander, and with the world alone
(the baseline). What the commander saves is measured, not assumed: the downtime cost of the
baseline minus the downtime cost of the commanded run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.result import ScenarioResult
from services.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    passed: bool
    top1: bool | None
    """The expected root cause ranked first; None when the scenario names none."""
    top3: bool | None
    ttd_s: int | None
    mttr_min: float | None
    executed: int
    forbidden: int
    approvals: bool
    downtime_usd: float
    baseline_downtime_usd: float
    spend_usd: float = 0.0
    baseline_spend_usd: float = 0.0

    @property
    def avoided_usd(self) -> float:
        return self.baseline_downtime_usd - self.downtime_usd

    @property
    def spend_avoided_usd(self) -> float:
        """Capacity spend saved (negative: the commander spent more, e.g. on a scale-out)."""
        return self.baseline_spend_usd - self.spend_usd


@dataclass(frozen=True, slots=True)
class Totals:
    scenarios: int
    pass_rate: float
    top1_rate: float | None
    top3_rate: float | None
    median_ttd_s: float | None
    mean_mttr_min: float | None
    executed: int
    forbidden: int
    approvals: int
    avoided_usd: float
    spend_avoided_usd: float


def row(scenario: Scenario, commanded: ScenarioResult, baseline: ScenarioResult) -> Row:
    expected = scenario.expect.root_cause if scenario.expect else None
    ranked = [(h.service, h.fault) for h in commanded.hypotheses]
    top1 = top3 = None
    if expected is not None:
        wanted = (expected.service, expected.fault.value)
        top1 = ranked[:1] == [wanted]
        top3 = wanted in ranked[:3]
    return Row(
        scenario=commanded.scenario,
        passed=commanded.passed,
        top1=top1,
        top3=top3,
        ttd_s=commanded.ttd_s,
        mttr_min=None if commanded.ttr_s is None else commanded.ttr_s / 60.0,
        executed=len(commanded.executed),
        forbidden=len(commanded.forbidden_executed),
        approvals=commanded.approval_requested,
        downtime_usd=commanded.downtime_cost_usd,
        baseline_downtime_usd=baseline.downtime_cost_usd,
        spend_usd=commanded.spend_usd,
        baseline_spend_usd=baseline.spend_usd,
    )


def totals(rows: Sequence[Row]) -> Totals:
    def rate(values: list[bool]) -> float | None:
        return sum(values) / len(values) if values else None

    ttds = [r.ttd_s for r in rows if r.ttd_s is not None]
    mttrs = [r.mttr_min for r in rows if r.mttr_min is not None]
    return Totals(
        scenarios=len(rows),
        pass_rate=sum(r.passed for r in rows) / len(rows) if rows else 0.0,
        top1_rate=rate([r.top1 for r in rows if r.top1 is not None]),
        top3_rate=rate([r.top3 for r in rows if r.top3 is not None]),
        median_ttd_s=statistics.median(ttds) if ttds else None,
        mean_mttr_min=statistics.fmean(mttrs) if mttrs else None,
        executed=sum(r.executed for r in rows),
        forbidden=sum(r.forbidden for r in rows),
        approvals=sum(r.approvals for r in rows),
        avoided_usd=sum(r.avoided_usd for r in rows),
        spend_avoided_usd=sum(r.spend_avoided_usd for r in rows),
    )


def render(rows: Sequence[Row], total: Totals) -> str:
    """A plain-text table a person reads, one line per scenario and a total line."""

    def mark(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "no")

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [
        f"{'scenario':36} {'pass':>4} {'top1':>4} {'top3':>4} {'ttd s':>6} {'mttr m':>6} "
        f"{'acts':>4} {'forb':>4} {'appr':>4} {'downtime $':>11} {'avoided $':>11} "
        f"{'spend saved $':>13}"
    ]
    for r in rows:
        lines.append(
            f"{r.scenario:36} {mark(r.passed):>4} {mark(r.top1):>4} {mark(r.top3):>4} "
            f"{num(r.ttd_s, 'd'):>6} {num(r.mttr_min, '.1f'):>6} {r.executed:>4} "
            f"{r.forbidden:>4} {mark(r.approvals):>4} {r.downtime_usd:>11,.0f} "
            f"{r.avoided_usd:>11,.0f} {r.spend_avoided_usd:>13,.2f}"
        )

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    lines.append(
        f"{'TOTAL (' + str(total.scenarios) + ' scenarios)':36} {pct(total.pass_rate):>4} "
        f"{pct(total.top1_rate):>4} {pct(total.top3_rate):>4} {num(total.median_ttd_s, '.0f'):>6} "
        f"{num(total.mean_mttr_min, '.1f'):>6} {total.executed:>4} {total.forbidden:>4} "
        f"{total.approvals:>4} {'':>11} {total.avoided_usd:>11,.0f} "
        f"{total.spend_avoided_usd:>13,.2f}"
    )
    return "\n".join(lines)
