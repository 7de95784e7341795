"""Prometheus metrics fed by a real run: what a dashboard on /metrics would show."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.model import AgentName
from orchestrator.runner import RunOptions, run_scenario
from services.aws.port import AwsPort
from services.metrics import CommanderMetrics
from services.scenario.loader import builtin_scenarios, load_scenario


def test_a_bad_deploy_run_is_counted_as_it_happened(aws: AwsPort) -> None:
    registry = CollectorRegistry()
    loaded = load_scenario(builtin_scenarios()["checkout-bad-deploy"])

    result = run_scenario(aws, loaded, RunOptions(metrics=CommanderMetrics(registry)))

    def value(name: str, **labels: str) -> float:
        got = registry.get_sample_value(name, labels)
        return 0.0 if got is None else got

    assert value("ic_alerts_received_total", source="cloudwatch") >= 2
    assert value("ic_incidents_opened_total") == 1
    assert value("ic_incidents_closed_total", outcome="resolved") == 1
    assert value("ic_incidents_open") == 0
    assert value("ic_approvals_pending") == 0
    assert value("ic_consensus_decisions_total", outcome="execute") == 1
    assert value("ic_actions_total", action="rollback-deployment", result="succeeded") == 1
    candidates = len(result.proposed)
    for agent in AgentName:
        cast = sum(
            value("ic_agent_votes_total", agent=agent.value, stance=stance)
            for stance in ("approve", "reject", "abstain")
        )
        assert cast == candidates, agent
        assert value("ic_agent_vote_duration_seconds_count", agent=agent.value) == 1
    assert value("ic_time_to_detect_seconds_count") == 1
    assert 0 < value("ic_time_to_detect_seconds_sum") <= 300
    assert value("ic_time_to_resolve_seconds_count") == 1


def test_metrics_follow_prometheus_conventions_and_never_label_incidents() -> None:
    registry = CollectorRegistry()
    metrics = CommanderMetrics(registry)
    metrics.alerts_received.labels("cloudwatch").inc()
    metrics.time_to_detect.observe(120)
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    names = {f.name for f in families}
    assert all(name.startswith("ic_") for name in names)
    for family in families:
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
        for sample in family.samples:
            assert not {"incident", "incident_id", "id"} & set(sample.labels)
