"""The generated-scenario benchmark's scoring: each run against its oracle verdict, by class. Pure.

Seed ranges are fixed so that nobody tunes on what is reported: ``DEVELOPMENT_SEEDS`` for
looking at failures and improving the commander, ``REPORTING_SEEDS`` only for the figures in
``BENCHMARKS.md``. ``CLASSES`` has 20 entries, so any 20 consecutive seeds hold every class once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.result import ScenarioResult
from services.scenario.generate import Generated
from services.scenario.model import ActionKind

DEVELOPMENT_SEEDS = range(0, 100_000)
REPORTING_SEEDS = range(100_000, 200_000)
NOT_CHANGES = {ActionKind.NOTIFY.value, ActionKind.ESCALATE.value}


@dataclass(frozen=True, slots=True)
class Score:
    """One generated scenario's run, judged by its verdict."""

    seed: int
    klass: str
    passed: bool
    top1: bool | None
    """The first cause (``expect.root_cause``) ranked first; None for noise-only."""
    top3: bool | None
    all_causes_top3: bool | None
    """Every cause of the verdict among the first three hypotheses (beyond v1's one cause)."""
    forbidden: int
    unnecessary: int
    """Executed changes that address no cause and are not forbidden."""
    downtime_usd: float
    avoided_usd: float | None
    """The world-alone run's downtime cost minus the commanded run's; None without baseline."""
    failed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClassTotals:
    klass: str
    scenarios: int
    passed: int
    top1: tuple[int, int]
    top3: tuple[int, int]
    forbidden: int
    unnecessary: int
    avoided_usd: float | None


def score(
    generated: Generated, commanded: ScenarioResult, baseline: ScenarioResult | None
) -> Score:
    verdict = generated.verdict
    ranked = [(h.service, h.fault) for h in commanded.hypotheses]
    top1 = top3 = every = None
    if verdict.causes:
        first = verdict.causes[0]
        wanted = (first.service, first.fault.value)
        top1 = ranked[:1] == [wanted]
        top3 = wanted in ranked[:3]
        every = all((c.service, c.fault.value) in ranked[:3] for c in verdict.causes)
    needed = {a.value for a in verdict.needed}
    forbidden = {a.value for a in verdict.forbidden}
    executed = commanded.executed
    return Score(
        seed=generated.seed,
        klass=generated.klass,
        passed=commanded.passed,
        top1=top1,
        top3=top3,
        all_causes_top3=every,
        forbidden=sum(a in forbidden for a in executed),
        unnecessary=sum(a not in needed | forbidden | NOT_CHANGES for a in executed),
        downtime_usd=commanded.downtime_cost_usd,
        avoided_usd=(
            None if baseline is None else baseline.downtime_cost_usd - commanded.downtime_cost_usd
        ),
        failed=tuple(commanded.failed_expectations),
    )


def by_class(scores: Sequence[Score]) -> list[ClassTotals]:
    """Totals per class, in first-seen order, then one ``ALL`` line."""
    classes = list(dict.fromkeys(s.klass for s in scores))
    groups = [(k, [s for s in scores if s.klass == k]) for k in classes]
    return [_totals(k, group) for k, group in groups] + [_totals("ALL", list(scores))]


def _totals(klass: str, group: list[Score]) -> ClassTotals:
    def count(values: list[bool | None]) -> tuple[int, int]:
        known = [v for v in values if v is not None]
        return sum(known), len(known)

    avoided = [s.avoided_usd for s in group if s.avoided_usd is not None]
    return ClassTotals(
        klass=klass,
        scenarios=len(group),
        passed=sum(s.passed for s in group),
        top1=count([s.top1 for s in group]),
        top3=count([s.top3 for s in group]),
        forbidden=sum(s.forbidden for s in group),
        unnecessary=sum(s.unnecessary for s in group),
        avoided_usd=sum(avoided) if avoided else None,
    )


def render(scores: Sequence[Score]) -> str:
    """Per scenario, then per class: a plain-text table."""
    lines = [f"{'seed':>7} {'class':26} {'pass':>4} {'top1':>4} {'top3':>4} {'all3':>4} "
             f"{'forb':>4} {'unnec':>5} {'avoided $':>11}  failed"]  # fmt: skip
    for s in scores:
        avoided = "-" if s.avoided_usd is None else f"{s.avoided_usd:,.0f}"
        lines.append(
            f"{s.seed:>7} {s.klass:26} {_mark(s.passed):>4} {_mark(s.top1):>4} "
            f"{_mark(s.top3):>4} {_mark(s.all_causes_top3):>4} {s.forbidden:>4} "
            f"{s.unnecessary:>5} {avoided:>11}  {'; '.join(s.failed)}"
        )
    lines.append("")
    lines.append(f"{'class':26} {'pass':>7} {'top1':>7} {'top3':>7} {'forb':>4} {'unnec':>5} "
                 f"{'avoided $':>11}")  # fmt: skip
    for t in by_class(scores):
        avoided = "-" if t.avoided_usd is None else f"{t.avoided_usd:,.0f}"
        lines.append(
            f"{t.klass:26} {t.passed:>3}/{t.scenarios:<3} {_ratio(t.top1):>7} "
            f"{_ratio(t.top3):>7} {t.forbidden:>4} {t.unnecessary:>5} {avoided:>11}"
        )
    return "\n".join(lines)


def _mark(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _ratio(pair: tuple[int, int]) -> str:
    return "-" if pair[1] == 0 else f"{pair[0]}/{pair[1]}"
