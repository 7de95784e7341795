"""Diagnosis: ranked root-cause hypotheses ``(service, fault, confidence, evidence)``.

Two questions, answered separately:

- **Where** (``rank_root_causes``): among services whose metrics went anomalous, the likely
  root is the one that went first and whose own dependencies stayed healthy; a caller that
  degrades after its dependency is a symptom.
- **What** (``classify``): the fault kind on a service, from evidence a person would use: log
  signatures, a change shortly before the onset, security findings, and the shape of the
  metrics (load up, CPU up on flat load, memory climbing, storage falling ...).

When no hypothesis reaches ``MIN_CONFIDENCE`` the answer is ``unknown``, not a guess.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Container, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import theilslopes

from agents.detection import ANOMALOUS, BAD_DIRECTION, Anomaly, anomaly_scores
from agents.model import AgentName, Candidate, Hypothesis, Stance, Vote, cause_of, vote

MIN_CONFIDENCE = 0.3
SUSTAINED = 0.5
"""In a live incident, the share of a metric's points since its first anomalous one that must be
anomalous too: a fault that is on (or recurs at least every other step), not one noisy point."""
POINTED_BONUS = 0.1
"""Confidence added when callers' log lines blame a service (``_pointed_at``)."""
LEAKED = 1.1
"""Memory this many times its level before the onset, and climbing, is a leak; climbing alone,
a few noisy points inside the band, is not."""
CLIMB_LEAD = 2
"""Points before the onset that the climb of a leak is measured from: a leak detected on its
trend began before the points that confirmed it, and three noisy points alone show no slope."""
SYMPTOM_DISCOUNT = 0.35
"""A service whose dependency degraded no later than it did is probably a symptom."""

_SIGNATURES: list[tuple[re.Pattern[str], str, float]] = [
    (re.compile(r"NullPointerException|Exception at .*Handler|panic:"), "bad-deploy", 0.6),
    (re.compile(r"OutOfMemoryError|exit 137|heap"), "memory-leak", 0.7),
    (re.compile(r"too many clients|connection slots"), "connection-exhaustion", 0.8),
    (re.compile(r"No space left on device"), "disk-full", 0.9),
    (re.compile(r"duration: \d+(\.\d+)? ms\s+statement"), "dependency-latency", 0.6),
    (re.compile(r"event loop blocked|worker pool busy"), "cpu-saturation", 0.5),
    (re.compile(r"rate anomaly: .* from \d+ client addresses"), "traffic-spike", 0.7),
    (re.compile(r"outbound connection .* pool\."), "instance-compromise", 0.8),
]
_UPSTREAM = re.compile(r"upstream (\S+) (timed out|failed)")


@dataclass(slots=True)
class Evidence:
    """Everything diagnosis looks at for one incident; gathered through the AWS port."""

    series: Mapping[str, Mapping[str, Sequence[float]]]
    """Service -> metric role -> values, oldest first, one per step."""
    edges: Sequence[tuple[str, str]]
    """(caller, dependency) pairs."""
    onset_index: int
    logs: Mapping[str, Sequence[str]] = field(default_factory=dict)
    changes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    """Service -> indices (in the series' steps) at which its revision changed."""
    findings: Sequence[tuple[str, str]] = field(default_factory=list)
    """(service, fault kind) named by security findings and API-call events."""
    kinds: Mapping[str, str] = field(default_factory=dict)
    flagged: Sequence[Anomaly] = field(default_factory=list)
    """Detection's persistent anomalies over these series (``rank_root_causes``)."""
    scaled: Collection[str] = ()
    """Services whose capacity the commander changed: their capacity against before the onset
    is its own doing, not a cost runaway."""
    settled: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    """Service -> (index, fault) of the last cause on it that an action fixed, verified at
    that index. Its anomalies before the index were that cause's, so they do not count again
    (the log lines of that time are left out where they are read, ``stale``); and the fixed
    fault's log signature on it no longer names that fault (a fix that absorbs a fault, as
    capacity absorbs saturation, leaves its lines running): only its metrics can, showing it
    again."""


_DEGRADATION = frozenset({"latency", "errors", "throttles", "write_latency", "free_storage"})
_LOAD = frozenset({"requests", "connections", "concurrency"})
"""Metrics that show demand; a database has no request count, its connections show it."""


def rank_root_causes(
    series: Mapping[str, Mapping[str, Sequence[float]]],
    edges: Sequence[tuple[str, str]],
    onset_index: int,
    *,
    lead: int = 5,
    settled: Mapping[str, int] | None = None,
    flagged: Sequence[Anomaly] = (),
    sustained: float = 0.0,
) -> list[tuple[str, float]]:
    """Services ranked by likelihood of being the root cause, with scores in [0, 1].

    ``series`` maps each service to its metrics (values per step); ``edges`` are
    (caller, dependency) pairs; ``onset_index`` is the step the incident began at.

    Degradation travels up the dependency graph (a slow database slows its callers) while load
    travels down it (a surge at the edge reaches what the edge calls). So a service is
    discounted as a symptom when one of its dependencies degraded no later than it did, or
    when one of its callers' load rose no later than its own. Services with no anomaly from
    ``onset_index - lead`` on are ranked last with score 0 (a live incident's onset is an
    estimate, so by default hits a little before it count; a labelled fault time is exact).
    The order is by the uncapped score: two services past 1.0 are not a tie broken by name.
    A service in ``settled`` counts only its hits from that index on: what it showed before a
    verified fix was the fixed cause's doing. ``flagged``: detection's persistent anomalies,
    each a hit at its onset (counted from the same start) with its score, so that one no
    single point shows (a resource running out on a trend, ``detection.find_anomalies``)
    places its service too. ``sustained``: the share of a metric's points from its first hit
    on that must be hits for it to count; a live incident's diagnosis asks for half
    (``SUSTAINED``), and with it a metric's first hit is where its last run of hits began
    (``_last_run``), so one noisy point minutes ago does not make a service the earliest.
    """
    settled = settled or {}
    first: dict[str, int] = {}
    degraded: dict[str, int] = {}
    loaded: dict[str, int] = {}
    strength: dict[str, float] = {}

    def hit(service: str, metric: str, at: int, score: float) -> None:
        first[service] = min(first.get(service, at), at)
        strength[service] = max(strength.get(service, 0.0), score)
        if metric in _DEGRADATION:
            degraded[service] = min(degraded.get(service, at), at)
        if metric in _LOAD:
            loaded[service] = min(loaded.get(service, at), at)

    def start_of(service: str) -> int:
        return max(0, onset_index - lead, settled.get(service, 0))

    for service, metrics in series.items():
        start = start_of(service)
        for metric, values in metrics.items():
            scores = anomaly_scores(values, direction=BAD_DIRECTION.get(metric, 0))
            hits = [i for i in range(start, len(scores)) if scores[i] >= ANOMALOUS]
            if hits and sustained > 0:
                hits = _last_run(hits)
            if hits and len(hits) >= sustained * (len(scores) - hits[0]):
                hit(service, metric, hits[0], float(np.mean(scores[hits])))
    for found in flagged:
        if found.service in series and found.onset_index >= start_of(found.service):
            hit(found.service, found.metric, found.onset_index, found.score)
    if not first:
        return [(service, 0.0) for service in sorted(series)]
    earliest = min(first.values())
    deps: dict[str, list[str]] = {}
    callers: dict[str, list[str]] = {}
    for caller, dependency in edges:
        deps.setdefault(caller, []).append(dependency)
        callers.setdefault(dependency, []).append(caller)
    ranked: dict[str, float] = {}
    for service in series:
        if service not in first:
            ranked[service] = 0.0
            continue
        score = strength[service] / (1.0 + 0.3 * (first[service] - earliest))
        own = first[service]
        dependency_degraded = any(
            d in degraded and degraded[d] <= own + 1 for d in deps.get(service, [])
        )
        load_from_callers = service in loaded and any(
            c in loaded and loaded[c] <= loaded[service] + 1 for c in callers.get(service, [])
        )
        # Where a surge enters: its load rose and no caller's did. What it does to its own
        # dependencies does not make it a symptom.
        load_origin = service in loaded and not load_from_callers
        if not load_origin and (dependency_degraded or load_from_callers):
            score *= SYMPTOM_DISCOUNT
        ranked[service] = score
    order = sorted(ranked.items(), key=lambda item: (-item[1], item[0]))
    return [(service, min(1.0, score)) for service, score in order]


RUN_GAP = 1
"""Quiet points a run of anomalous points may hold and still be one run."""


def _last_run(hits: list[int]) -> list[int]:
    """The last run of ``hits`` (ascending indices), gaps of up to ``RUN_GAP`` points allowed:
    where the anomaly that is still going began. A noisy point five minutes before it is not
    its start (it made a load's first dependency look earlier than the front door it came in
    by)."""
    first = len(hits) - 1
    while first > 0 and hits[first] - hits[first - 1] <= RUN_GAP + 1:
        first -= 1
    return hits[first:]


def classify(service: str, evidence: Evidence) -> list[tuple[str, float, list[str]]]:
    """Fault kinds that fit ``service``, strongest first, each with its evidence."""
    scores: dict[str, float] = {}
    why: dict[str, list[str]] = {}

    def note(kind: str, weight: float, reason: str) -> None:
        scores[kind] = scores.get(kind, 0.0) + weight
        why.setdefault(kind, []).append(reason)

    for named, kind in evidence.findings:
        if named == service:
            note(kind, 1.0, f"security finding: {kind}")
    _, fixed = evidence.settled.get(service, (0, ""))
    for line in evidence.logs.get(service, []):
        for pattern, kind, weight in _SIGNATURES:
            if pattern.search(line):
                if kind != fixed:  # a fixed fault's lines name it no more (``settled``)
                    note(kind, weight, f"log: {line[:120]}")
                break
    onset = evidence.onset_index
    if any(onset - 4 <= i <= onset + 1 for i in evidence.changes.get(service, [])):
        note("bad-deploy", 0.6, "revision changed just before the onset")
    metrics = evidence.series.get(service, {})
    kind_of = evidence.kinds.get(service, "")

    def ratio(metric: str) -> float | None:
        """The last two points against the median before the onset (a trend shows early)."""
        values = metrics.get(metric)
        if not values or len(values) <= onset or onset < 3:
            return None
        before = float(np.median(values[max(0, onset - 10) : onset]))
        after = float(np.mean(values[-2:]))
        return after / before if before > 0 else None

    load, cpu, memory = ratio("requests"), ratio("cpu"), ratio("memory")
    capacity = ratio("capacity")
    scaled = service in evidence.scaled
    if load is not None and load > 1.8:
        note("traffic-spike", 0.6, f"requests x{load:.1f}")
    if cpu is not None and cpu > 1.6 and (load is None or load < 1.3):
        note("cpu-saturation", 0.6, f"CPU x{cpu:.1f} on flat load")
    leaking = _climbing(metrics.get("memory", [])[max(0, onset - CLIMB_LEAD) :])
    if memory is not None and memory >= LEAKED and leaking:
        note("memory-leak", 0.6, f"memory climbing (x{memory:.2f})")
    if capacity is not None and capacity > 1.4 and (load is None or load < 1.2) and not scaled:
        note("cost-runaway", 0.8, f"capacity x{capacity:.1f} with flat load")
    if kind_of == "rds":
        connections, free, latency = ratio("connections"), ratio("free_storage"), ratio("latency")
        if connections is not None and connections > 2.0:
            note("connection-exhaustion", 0.5, f"connections x{connections:.1f}")
        if free is not None and free < 0.9:
            note("disk-full", 0.6, f"free storage down to {free:.0%}")
        if latency is not None and latency > 2.0:
            note("dependency-latency", 0.5, f"read latency x{latency:.1f}")
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [(kind, min(1.0, weight), why[kind]) for kind, weight in ranked]


def suspects(evidence: Evidence) -> list[str]:
    """The services ``diagnose`` may name, likeliest first: those ranked above zero as a root
    cause, and those a security finding names. The metrics, edges and findings decide it (the
    logs only choose the fault and weigh the confidence), so it is known before the logs are
    read, and what a remedy needs to know of these services can be read with them."""
    return [service for service, _ in _ranked_suspects(evidence)]


def stale(service: str, line: str, fixed_since: Container[str]) -> bool:
    """Whether a log line of ``service`` is evidence of a cause fixed since it was written:
    ``fixed_since`` holds the services whose fix was verified after the line. Such a line is
    one of a fixed service itself, or a caller's line blaming one: what the fault said then
    must not blame the service again; only what it says after the fix can."""
    match = _UPSTREAM.search(line)
    return service in fixed_since or (match is not None and match.group(1) in fixed_since)


def _ranked_suspects(evidence: Evidence) -> list[tuple[str, float]]:
    where = rank_root_causes(
        evidence.series, evidence.edges, evidence.onset_index,
        settled={service: at for service, (at, _) in evidence.settled.items()},
        flagged=evidence.flagged, sustained=SUSTAINED,
    )  # fmt: skip
    finding_services = {service for service, _ in evidence.findings}
    return [(s, place) for s, place in where if place > 0 or s in finding_services]


def diagnose(evidence: Evidence, *, limit: int = 3) -> list[Hypothesis]:
    """Ranked hypotheses; a single ``unknown`` one when the evidence is too weak."""
    finding_services = {service for service, _ in evidence.findings}
    hypotheses: list[Hypothesis] = []
    for service, place in _ranked_suspects(evidence):
        kinds = classify(service, evidence)
        if not kinds:
            continue
        kind, strength, reasons = kinds[0]
        if service in finding_services:
            place = max(place, 0.9)
        pointed = _pointed_at(service, evidence)
        # Callers blaming a service say where to look, once: a cascade's callers blame their
        # nearest dependency at every request, whatever lies beneath it, so the count of
        # their lines is no measure (it made any blamed service certain).
        blamed = POINTED_BONUS if pointed else 0.0
        confidence = round(min(1.0, 0.55 * place + 0.45 * strength + blamed), 3)
        hypotheses.append(
            Hypothesis(
                service=service,
                fault=kind,
                confidence=confidence,
                evidence=[*reasons, f"root-cause rank score {place:.2f}"]
                + ([f"{pointed} caller log line(s) blame it"] if pointed else []),
            )
        )
    hypotheses.sort(key=lambda h: (-h["confidence"], h["service"]))
    if not hypotheses or hypotheses[0]["confidence"] < MIN_CONFIDENCE:
        return [
            Hypothesis(
                service="unknown",
                fault="unknown",
                confidence=0.0,
                evidence=["no hypothesis reached the confidence floor"],
            )
        ]
    return hypotheses[:limit]


def vote_on(candidate: Candidate, hypotheses: Sequence[Hypothesis]) -> Vote:
    """Approve what cures a hypothesis (more strongly the better it ranks); reject the rest."""
    for rank, hyp in enumerate(hypotheses):
        if hyp["service"] == cause_of(candidate) and hyp["fault"] == candidate["addresses"]:
            return vote(
                AgentName.DIAGNOSIS,
                candidate,
                Stance.APPROVE,
                hyp["confidence"] * (1.0 if rank == 0 else 0.6),
                f"cures hypothesis #{rank + 1}: {hyp['fault']} on {hyp['service']}",
                hyp["evidence"],
            )
    top = hypotheses[0] if hypotheses else None
    if top is None or top["fault"] == "unknown":
        return vote(AgentName.DIAGNOSIS, candidate, Stance.ABSTAIN, 0.0, "root cause unknown")
    return vote(
        AgentName.DIAGNOSIS,
        candidate,
        Stance.REJECT,
        top["confidence"],
        f"does not address the likely cause ({top['fault']} on {top['service']})",
        top["evidence"],
    )


def _climbing(values: Sequence[float]) -> bool:
    """Rising by more than half a point a step (Theil-Sen: one noisy point does not tip it)."""
    if len(values) < 3:
        return False
    x = np.asarray(values, dtype=float)
    return bool(float(theilslopes(x, np.arange(len(x))).slope) > 0.5)


def _pointed_at(service: str, evidence: Evidence) -> int:
    """Caller log lines that name ``service`` as the upstream that timed out or failed."""
    count = 0
    for lines in evidence.logs.values():
        for line in lines:
            match = _UPSTREAM.search(line)
            if match and match.group(1) == service:
                count += 1
    return count
