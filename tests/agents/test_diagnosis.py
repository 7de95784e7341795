"""Diagnosis: where the incident started, what kind of fault it is, and votes that follow."""

from __future__ import annotations

from dataclasses import replace

import pytest

import agentkit
from agents import diagnosis
from agents.detection import Anomaly
from agents.diagnosis import MIN_CONFIDENCE, Evidence, classify, diagnose, rank_root_causes
from agents.model import Hypothesis, Stance

AT = 40
"""The incident's onset step in the synthetic series."""
N = AT + 6

CHAIN = [("web", "api"), ("api", "orders-db")]
"""web calls api, api calls the database."""


def _ranking(series: dict[str, dict[str, list[float]]], edges: list[tuple[str, str]]) -> list[str]:
    ranked = rank_root_causes(series, edges, AT)
    assert all(0.0 <= score <= 1.0 for _, score in ranked)
    return [service for service, _ in ranked]


# -- where: rank_root_causes --------------------------------------------------------------------


def test_a_database_that_slows_first_outranks_the_callers_that_slow_after_it() -> None:
    series = {
        "web": {"latency": agentkit.shifted(AT + 2, 2.0, N, seed=1)},
        "api": {"latency": agentkit.shifted(AT + 1, 3.0, N, seed=2)},
        "orders-db": {"latency": agentkit.shifted(AT, 5.0, N, seed=3)},
        "batch": {"latency": agentkit.flat(N, seed=4)},
    }

    assert _ranking(series, CHAIN) == ["orders-db", "api", "web", "batch"]


def test_when_a_caller_and_its_dependency_slow_together_the_dependency_is_the_root() -> None:
    # Timing cannot tell them apart, and "api" sorts first by name: only the graph decides.
    series = {
        "api": {"latency": agentkit.shifted(AT, 3.0, N, seed=1)},
        "db": {"latency": agentkit.shifted(AT, 3.0, N, seed=2)},
    }

    assert _ranking(series, [("api", "db")])[0] == "db"
    assert _ranking(series, [])[0] == "api"  # without the edge it is a tie


def test_a_surge_entering_at_the_edge_outranks_the_dependencies_it_overloads() -> None:
    # The edge's load rises; in the same step so does api's (it sorts first by name), which then
    # fails; the database gets busier and slower a step after that.
    series = {
        "web": {
            "requests": agentkit.shifted(AT, 3.0, N, seed=1),
            "latency": agentkit.flat(N, seed=2),
        },
        "api": {
            "requests": agentkit.shifted(AT, 3.0, N, seed=3),
            "errors": agentkit.shifted(AT + 1, 8.0, N, level=1.0, seed=4),
        },
        "orders-db": {
            "connections": agentkit.shifted(AT + 2, 3.0, N, seed=5),
            "latency": agentkit.shifted(AT + 2, 4.0, N, seed=6),
        },
    }

    assert _ranking(series, CHAIN)[0] == "web"


def test_a_surge_that_reaches_the_database_in_the_same_step_still_points_at_the_edge() -> None:
    # What the simulator does: demand at the edge raises the database's connections at once.
    series = {
        "web": {"requests": agentkit.shifted(AT, 3.0, N, seed=1)},
        "api": {
            "requests": agentkit.shifted(AT, 3.0, N, seed=3),
            "errors": agentkit.shifted(AT + 1, 8.0, N, level=1.0, seed=4),
        },
        "orders-db": {
            "connections": agentkit.shifted(AT, 3.0, N, seed=5),
            "latency": agentkit.shifted(AT + 1, 4.0, N, seed=6),
        },
    }

    scores = dict(rank_root_causes(series, CHAIN, AT))

    assert scores["web"] > scores["orders-db"]


def test_a_service_with_no_anomaly_scores_zero_and_ranks_last() -> None:
    series = {
        "batch": {"latency": agentkit.flat(N, seed=1)},
        "api": {"latency": agentkit.shifted(AT, 3.0, N, seed=2)},
    }

    assert rank_root_causes(series, [], AT) == [
        ("api", pytest.approx(1.0, abs=0.01)),
        ("batch", 0.0),
    ]


def test_an_anomaly_long_before_the_onset_does_not_count() -> None:
    series = {
        "reports": {"latency": agentkit.spiked(10, 5.0, N, seed=1)},
        "api": {"latency": agentkit.shifted(AT, 3.0, N, seed=2)},
    }

    assert dict(rank_root_causes(series, [], AT))["reports"] == 0.0


def test_what_a_service_showed_before_its_fix_was_verified_does_not_place_it() -> None:
    # orders-db ran out of connections just before the onset and was fixed at AT; the api's
    # own fault begins after the fix.
    series = {
        "orders-db": {"connections": agentkit.spiked(AT - 3, 4.0, N, width=3, seed=1)},
        "api": {"errors": agentkit.shifted(AT + 1, 5.0, N, seed=2)},
    }

    assert _ranking(series, [("api", "orders-db")])[0] == "orders-db"
    fixed = dict(rank_root_causes(series, [("api", "orders-db")], AT, settled={"orders-db": AT}))
    assert fixed["orders-db"] == 0.0
    assert fixed["api"] > 0.5


def test_one_noisy_point_before_the_onset_does_not_make_the_cause_its_symptom() -> None:
    # the database's latency jumped for one step three minutes before the api broke
    series = {
        "orders-db": {"latency": agentkit.spiked(AT - 3, 4.0, N, seed=1)},
        "api": {"errors": agentkit.shifted(AT, 5.0, N, seed=2)},
    }
    edges = [("api", "orders-db")]

    assert _ranking(series, edges)[0] == "orders-db"
    sustained = rank_root_causes(series, edges, AT, sustained=diagnosis.SUSTAINED)
    assert [service for service, _ in sustained] == ["api", "orders-db"]
    assert dict(sustained)["orders-db"] == 0.0


def test_a_noisy_point_before_a_load_that_is_still_rising_is_not_where_it_began() -> None:
    # A surge enters by the api and reaches pricing, which it calls; pricing's request count
    # had one noisy point five minutes before. The load's origin is still the api.
    pricing = agentkit.shifted(AT, 2.5, N, seed=1)
    pricing[AT - 5] *= 2.0
    series = {
        "api": {"requests": agentkit.shifted(AT, 6.0, N, seed=2)},
        "pricing": {"requests": pricing},
    }
    edges = [("api", "pricing")]

    ranked = rank_root_causes(series, edges, AT, sustained=diagnosis.SUSTAINED)

    assert [service for service, _ in ranked] == ["api", "pricing"]


def test_an_anomaly_detection_flagged_places_its_service_though_no_point_stands_out() -> None:
    # memory leaking inside its noise band: detection's trend finds it, no point scores high
    leak = agentkit.leaking(AT, 2.0, n=N, seed=3)
    series = {"reports": {"memory": leak}, "api": {"latency": agentkit.flat(N, seed=2)}}
    trend = Anomaly("reports", "memory", AT, 0.99, 50.0, leak[-1])

    assert dict(rank_root_causes(series, [], AT))["reports"] == 0.0
    assert rank_root_causes(series, [], AT, flagged=[trend])[0] == ("reports", 0.99)
    top = diagnose(_evidence(series=series, flagged=[trend], kinds={"reports": "ecs-service"}))[0]
    assert (top["service"], top["fault"]) == ("reports", "memory-leak")


def test_a_fixed_fault_s_log_lines_no_longer_name_it_on_that_service() -> None:
    # Capacity absorbed a CPU saturation (verified at AT - 5): its lines keep coming; then a
    # deploy breaks the service.
    saturated = "WARN worker pool busy: event loop blocked for 850 ms"
    broken = "ERROR request failed: java.lang.NullPointerException at InventoryHandler.handle"
    evidence = _evidence(
        series={"inventory": {"errors": agentkit.shifted(AT, 5.0, N, seed=1)}},
        logs={"inventory": [saturated] * 12 + [broken] * 3},
    )
    settled = replace(evidence, settled={"inventory": (AT - 5, "cpu-saturation")})

    assert classify("inventory", evidence)[0][0] == "cpu-saturation"
    assert [kind for kind, _, _ in classify("inventory", settled)] == ["bad-deploy"]


def test_a_fixed_cause_s_own_lines_and_its_callers_lines_blaming_it_are_stale() -> None:
    fixed = {"orders-db"}

    assert diagnosis.stale("orders-db", "FATAL: sorry, too many clients already", fixed)
    assert diagnosis.stale("api", "ERROR upstream orders-db timed out after 5000 ms", fixed)
    assert not diagnosis.stale("api", "ERROR upstream search timed out after 5000 ms", fixed)
    assert not diagnosis.stale("api", "ERROR request failed: NullPointerException", fixed)
    assert not diagnosis.stale("orders-db", "FATAL: sorry, too many clients already", set())


def test_when_nothing_is_anomalous_every_service_scores_zero() -> None:
    series = {name: {"latency": agentkit.flat(N, seed=i)} for i, name in enumerate("cba")}

    assert rank_root_causes(series, [("a", "b")], AT) == [("a", 0.0), ("b", 0.0), ("c", 0.0)]


# -- what: classify -----------------------------------------------------------------------------


def _evidence(**fields: object) -> Evidence:
    fields.setdefault("series", {})
    fields.setdefault("edges", [])
    fields.setdefault("onset_index", AT)
    return Evidence(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "fault"),
    [
        (
            "FATAL java.lang.OutOfMemoryError: Java heap space; task killed (exit 137)",
            "memory-leak",
        ),
        ('ERROR: could not extend file "base/16384/24576": No space left on device', "disk-full"),
        ("FATAL: sorry, too many clients already", "connection-exhaustion"),
        (
            "ERROR request failed: java.lang.NullPointerException at "
            "CheckoutHandler.handle(CheckoutHandler.java:142)",
            "bad-deploy",
        ),
    ],
    ids=["out-of-memory", "no-space", "too-many-clients", "null-pointer"],
)
def test_a_log_signature_names_its_fault(line: str, fault: str) -> None:
    kinds = classify("checkout", _evidence(logs={"checkout": ["INFO GET /health 200", line]}))

    assert kinds[0][0] == fault
    assert any(line[:40] in reason for reason in kinds[0][2])


def test_ordinary_log_lines_and_other_services_logs_name_nothing() -> None:
    evidence = _evidence(
        logs={
            "checkout": ["INFO GET /health 200", "INFO order 42 placed"],
            "search": ["FATAL java.lang.OutOfMemoryError: Java heap space"],
        }
    )

    assert classify("checkout", evidence) == []


@pytest.mark.parametrize(("changed_at", "bad_deploy"), [(AT - 2, True), (AT - 20, False)])
def test_a_revision_change_just_before_the_onset_suggests_a_bad_deploy(
    changed_at: int, bad_deploy: bool
) -> None:
    kinds = classify("checkout", _evidence(changes={"checkout": [changed_at]}))

    assert ("bad-deploy" in [kind for kind, _, _ in kinds]) is bad_deploy


@pytest.mark.parametrize(
    "fault", ["credential-compromise", "instance-compromise", "security-group-exposure"]
)
def test_a_security_finding_names_its_fault_on_its_service_only(fault: str) -> None:
    evidence = _evidence(findings=[("payments", fault)])

    assert classify("payments", evidence)[0][:2] == (fault, 1.0)
    assert classify("checkout", evidence) == []


def test_capacity_up_on_flat_load_is_a_cost_runaway() -> None:
    evidence = _evidence(
        series={
            "checkout": {
                "capacity": agentkit.shifted(AT, 3.0, N, level=4.0, noise=0.0),
                "requests": agentkit.flat(N),
            }
        }
    )

    assert classify("checkout", evidence)[0][0] == "cost-runaway"


def test_capacity_up_with_the_load_is_not_a_cost_runaway() -> None:
    evidence = _evidence(
        series={
            "checkout": {
                "capacity": agentkit.shifted(AT, 3.0, N, level=4.0, noise=0.0),
                "requests": agentkit.shifted(AT, 3.0, N),
            }
        }
    )

    kinds = [kind for kind, _, _ in classify("checkout", evidence)]

    assert "cost-runaway" not in kinds
    assert kinds[0] == "traffic-spike"


def test_a_database_losing_free_storage_is_filling_its_disk() -> None:
    evidence = _evidence(
        series={"orders-db": {"free_storage": agentkit.shifted(AT, 0.5, N)}},
        kinds={"orders-db": "rds"},
    )

    assert classify("orders-db", evidence)[0][0] == "disk-full"


# -- diagnose -----------------------------------------------------------------------------------


def test_nothing_anomalous_is_diagnosed_as_unknown() -> None:
    evidence = _evidence(
        series={
            "api": {"latency": agentkit.flat(N, seed=1), "requests": agentkit.flat(N, seed=2)},
            "orders-db": {"latency": agentkit.flat(N, seed=3)},
        },
        edges=[("api", "orders-db")],
        changes={"api": [AT - 30]},
    )

    [only] = diagnose(evidence)

    assert (only["service"], only["fault"], only["confidence"]) == ("unknown", "unknown", 0.0)


def test_an_anomaly_with_no_recognisable_fault_is_unknown_not_a_guess() -> None:
    evidence = _evidence(series={"api": {"latency": agentkit.shifted(AT, 3.0, N)}})

    assert [h["fault"] for h in diagnose(evidence)] == ["unknown"]


def test_a_database_out_of_connections_is_diagnosed_from_its_metrics_and_logs() -> None:
    evidence = _evidence(
        series={
            "api": {
                "latency": agentkit.shifted(AT + 1, 3.0, N, seed=1),
                "requests": agentkit.flat(N, seed=2),
            },
            "orders-db": {
                "latency": agentkit.shifted(AT, 5.0, N, seed=3),
                "connections": agentkit.shifted(AT, 4.0, N, seed=4),
            },
        },
        edges=[("api", "orders-db")],
        logs={
            "orders-db": ["FATAL: sorry, too many clients already"],
            "api": ["ERROR upstream orders-db timed out after 5000 ms"],
        },
        kinds={"api": "ecs-service", "orders-db": "rds"},
    )

    top = diagnose(evidence)[0]

    assert (top["service"], top["fault"]) == ("orders-db", "connection-exhaustion")
    assert top["confidence"] >= MIN_CONFIDENCE
    assert any("too many clients" in reason for reason in top["evidence"])


def test_a_security_finding_on_a_quiet_service_is_diagnosed() -> None:
    evidence = _evidence(
        series={
            "ci-deployer": {"requests": agentkit.flat(N, seed=1)},
            "api": {"latency": agentkit.flat(N, seed=2)},
        },
        findings=[("ci-deployer", "credential-compromise")],
    )

    top = diagnose(evidence)[0]

    assert (top["service"], top["fault"]) == ("ci-deployer", "credential-compromise")
    assert top["confidence"] >= MIN_CONFIDENCE


def test_the_services_diagnosis_may_blame_are_known_before_the_logs_are_read() -> None:
    """What a remedy needs of them is read with the logs, so no blamed service is missing."""
    series = {
        "web": {"latency": agentkit.shifted(AT + 2, 3.0, N, seed=1)},
        "api": {"latency": agentkit.shifted(AT + 1, 3.0, N, seed=2)},
        "orders-db": {"connections": agentkit.shifted(AT, 4.0, N, seed=3)},
        "search": {"latency": agentkit.flat(N, seed=4)},
        "ci-deployer": {"requests": agentkit.flat(N, seed=5)},
    }
    unread = _evidence(
        series=series, edges=CHAIN, findings=[("ci-deployer", "credential-compromise")]
    )
    read = _evidence(
        series=series,
        edges=CHAIN,
        findings=[("ci-deployer", "credential-compromise")],
        logs={
            "search": ["panic: runtime error"],  # a fault's signature on a quiet service
            "api": ["ERROR upstream orders-db timed out after 5000 ms"],
            "orders-db": ["FATAL: sorry, too many clients already"],
        },
    )

    suspects = diagnosis.suspects(unread)

    assert set(suspects) == {"orders-db", "api", "web", "ci-deployer"}
    assert diagnosis.suspects(read) == suspects
    assert {h["service"] for h in diagnose(read, limit=10)} <= set(suspects)


# -- vote_on ------------------------------------------------------------------------------------


HYPOTHESES = [
    Hypothesis(service="checkout", fault="bad-deploy", confidence=0.8, evidence=["log: NPE"]),
    Hypothesis(service="orders-db", fault="disk-full", confidence=0.8, evidence=["free 5%"]),
]
UNKNOWN = [Hypothesis(service="unknown", fault="unknown", confidence=0.0, evidence=[])]


def test_an_action_that_cures_the_top_hypothesis_is_approved() -> None:
    candidate = agentkit.candidate("rollback-deployment", "checkout", addresses="bad-deploy")

    got = diagnosis.vote_on(candidate, HYPOTHESES)

    assert got["stance"] == Stance.APPROVE
    assert got["confidence"] == pytest.approx(0.8)
    assert got["evidence"] == ["log: NPE"]


def test_curing_a_lower_hypothesis_is_approved_less_strongly_than_curing_the_top() -> None:
    top = diagnosis.vote_on(
        agentkit.candidate("rollback-deployment", "checkout", addresses="bad-deploy"), HYPOTHESES
    )
    second = diagnosis.vote_on(
        agentkit.candidate("increase-storage", "orders-db", addresses="disk-full"), HYPOTHESES
    )

    assert second["stance"] == Stance.APPROVE
    assert 0 < second["confidence"] < top["confidence"]


@pytest.mark.parametrize(
    ("service", "addresses"),
    [("checkout", "memory-leak"), ("search", "bad-deploy")],
    ids=["wrong-fault", "wrong-service"],
)
def test_an_action_that_addresses_nothing_hypothesised_is_rejected(
    service: str, addresses: str
) -> None:
    got = diagnosis.vote_on(
        agentkit.candidate("restart-service", service, addresses=addresses), HYPOTHESES
    )

    assert got["stance"] == Stance.REJECT
    assert "bad-deploy on checkout" in got["rationale"]


@pytest.mark.parametrize("hypotheses", [UNKNOWN, []], ids=["unknown", "none"])
def test_with_the_root_cause_unknown_diagnosis_abstains(hypotheses: list[Hypothesis]) -> None:
    got = diagnosis.vote_on(agentkit.candidate("restart-service", "checkout"), hypotheses)

    assert got["stance"] == Stance.ABSTAIN
