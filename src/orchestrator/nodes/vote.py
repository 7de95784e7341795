"""One agent's votes on every candidate (run once per agent, in parallel, through ``Send``)."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from agents import detection, diagnosis, finops, remediation, security
from agents.model import AgentName, Vote
from orchestrator import evidence
from orchestrator.context import RunContext
from orchestrator.state import VoteTask

_SLO_METRICS = frozenset({"errors", "latency", "throttles"})


def cast(task: VoteTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    started = time.perf_counter()
    agent = AgentName(task["agent"])
    candidates = task["candidates"]
    votes: list[Vote] = []
    if agent is AgentName.DETECTION:
        assessment = detection.Assessment(
            confirmed=True,
            noise_reason=None,
            severity="sev2",
            anomalies=tuple(
                detection.Anomaly(
                    a["service"], a["metric"], 0, a["score"], a["baseline"], a["latest"]
                )
                for a in task["anomalies"]
            ),
            blast_radius=len({a["service"] for a in task["anomalies"]}),
        )
        votes = [detection.vote_on(c, assessment) for c in candidates]
    elif agent is AgentName.DIAGNOSIS:
        votes = [diagnosis.vote_on(c, task["hypotheses"]) for c in candidates]
    elif agent is AgentName.REMEDIATION:
        votes = [remediation.vote_on(c) for c in candidates]
    else:
        # In breach at confirmation, or now (a saturated service's latency rises after it was
        # confirmed on CPU): the step's anomalies are scored once and shared (diagnosis read them).
        involved = set(task["services"])
        slo_breached = any(a["metric"] in _SLO_METRICS for a in task["anomalies"]) or any(
            a.metric in _SLO_METRICS and a.service in involved
            for a in evidence.anomalies(ctx, ctx.policy.persistence)
        )
        facts = evidence.facts(
            ctx, sorted({c["service"] for c in candidates}), [], task.get("onset_step")
        )
        if agent is AgentName.FINOPS:
            votes = [
                finops.vote_on(c, facts, ctx.policy.budget, slo_breached=slo_breached)
                for c in candidates
            ]
        else:
            votes = [
                security.vote_on(
                    c, facts, ctx.policy.security_at(ctx.clock.now), slo_breached=slo_breached
                )
                for c in candidates
            ]
    if ctx.metrics is not None:
        ctx.metrics.agent_latency.labels(agent.value).observe(time.perf_counter() - started)
    return {"votes": [Vote(**v, round=task["round"]) for v in votes]}
