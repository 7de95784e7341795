"""The commander's Prometheus metrics, fed by what really happens to alerts and incidents.

Every metric lives in the registry passed in (``REGISTRY`` in production; tests pass a fresh
``CollectorRegistry``). Labels are bounded sets (sources, agents, stances, outcomes, action
kinds); incident ids are never labels. Durations are seconds on the commander's clock: the
simulated clock in scenario runs, wall time in production.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_INCIDENT_BUCKETS = (30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200)
_AGENT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class CommanderMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.alerts_received = Counter(
            "ic_alerts_received",
            "Alerts received, by source (cloudwatch, guardduty, cloudtrail, detector, and the "
            "gateway's: alertmanager, grafana, pagerduty, generic), unrouted ones too.",
            ["source"],
            registry=registry,
        )
        self.alerts_unrouted = Counter(
            "ic_alerts_unrouted",
            "Firing alerts no service of the estate matches, by source: each opens or joins a "
            "triage incident escalated to a person.",
            ["source"],
            registry=registry,
        )
        self.alerts_deduplicated = Counter(
            "ic_alerts_deduplicated",
            "Alerts that joined an existing incident instead of opening one.",
            ["source"],
            registry=registry,
        )
        self.incidents_opened = Counter(
            "ic_incidents_opened", "Incidents opened.", registry=registry
        )
        self.noise_reduction = Gauge(
            "ic_alert_noise_reduction_ratio",
            "1 - incidents opened / alerts received since start: the share of alerts that "
            "joined an incident instead of paging anew.",
            registry=registry,
        )
        self.incidents_closed = Counter(
            "ic_incidents_closed",
            "Incidents finished, by outcome (resolved, escalated, noise, closed).",
            ["outcome"],
            registry=registry,
        )
        self.incidents_open = Gauge(
            "ic_incidents_open", "Incidents not finished yet.", registry=registry
        )
        self.votes = Counter(
            "ic_agent_votes", "Votes cast, by agent and stance.", ["agent", "stance"],
            registry=registry,
        )  # fmt: skip
        self.agent_latency = Histogram(
            "ic_agent_vote_duration_seconds",
            "Time one agent takes to vote on a round's candidates.",
            ["agent"],
            buckets=_AGENT_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "ic_consensus_decisions",
            "Consensus decisions, by outcome (execute, approval, escalate, no_action).",
            ["outcome"],
            registry=registry,
        )
        self.actions = Counter(
            "ic_actions",
            "Remediation actions, by action kind and result.",
            ["action", "result"],
            registry=registry,
        )
        self.approvals_pending = Gauge(
            "ic_approvals_pending", "Actions waiting for a person.", registry=registry
        )
        self.time_to_detect = Histogram(
            "ic_time_to_detect_seconds",
            "From an incident's estimated onset (its first anomalous point) to confirmation.",
            buckets=_INCIDENT_BUCKETS,
            registry=registry,
        )
        self.time_to_resolve = Histogram(
            "ic_time_to_resolve_seconds",
            "From an incident's estimated onset to its verified resolution.",
            buckets=_INCIDENT_BUCKETS,
            registry=registry,
        )


class LlmMetrics:
    """What the optional model costs and how it answers (``services.llm``).

    ``model`` is a configured model id (two at most), ``outcome`` one of ``llm.Outcome``'s
    values, ``direction`` input or output, ``period`` day or month.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.requests = Counter(
            "ic_llm_requests",
            "Questions put to a model, by model and outcome (used, discarded, malformed, "
            "timeout, throttled, error, breaker_open, budget_spent).",
            ["model", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "ic_llm_tokens",
            "Tokens a model read (input) and wrote (output), from its usage metadata.",
            ["model", "direction"],
            registry=registry,
        )
        self.cost = Counter(
            "ic_llm_cost_usd",
            "What the model's tokens cost, at the configured prices.",
            ["model"],
            registry=registry,
        )
        self.budget_remaining = Gauge(
            "ic_llm_budget_remaining_usd",
            "LLM budget left this UTC day and month; at 0 the agents use rules only.",
            ["period"],
            registry=registry,
        )
