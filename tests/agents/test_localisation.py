"""Root-cause localisation by deviation from normal: one scale for every metric, the onset
only, and callers' view of their dependencies."""

from __future__ import annotations

import numpy as np

from agents.diagnosis import rank_root_causes
from agents.localisation import rank_by_deviation

ONSET = 60


def _flat(rng: np.random.Generator, level: float, noise: float = 0.02) -> list[float]:
    return [float(v) for v in level * (1 + noise * rng.standard_normal(70))]


def _step(values: list[float], at: int, factor: float) -> list[float]:
    return [v * factor if i >= at else v for i, v in enumerate(values)]


def test_a_delay_seen_only_by_every_caller_is_blamed_on_the_dependency() -> None:
    """cart's own metrics stay flat (a network delay on its pod shows on the callers' side):
    both its callers' outgoing latency rises, while each caller's own latency moves less. The
    live ranking sees no anomaly on cart at all."""
    rng = np.random.default_rng(1)
    series = {
        "cart": {"latency": _flat(rng, 5), "cpu": _flat(rng, 30)},
        "web": {
            "latency": _step(_flat(rng, 100), ONSET, 1.1),
            "client_latency": _step(_flat(rng, 20), ONSET, 4),
        },
        "checkout": {
            "latency": _step(_flat(rng, 80), ONSET, 1.1),
            "client_latency": _step(_flat(rng, 10), ONSET, 3),
        },
        "ads": {"latency": _flat(rng, 7), "cpu": _flat(rng, 10)},
    }
    edges = [("web", "cart"), ("checkout", "cart"), ("web", "checkout"), ("web", "ads")]

    ranked = rank_by_deviation(series, edges, ONSET)

    assert ranked[0][0] == "cart"  # ads is called by one of the two slow callers only
    live = [s for s, score in rank_root_causes(series, edges, ONSET, lead=0) if score > 0]
    assert "cart" not in live


def test_metrics_are_compared_on_the_scale_of_their_own_normal() -> None:
    """web's CPU is noisy and reaches a level it often reaches; db's memory is steady (in bytes,
    so its raw swings are huge) and leaves its band by 5 %. db is the one out of line."""
    rng = np.random.default_rng(3)
    cpu = _flat(rng, 40, noise=0.3)
    cpu[ONSET] = max(cpu[:ONSET])
    series = {
        "web": {"cpu": cpu},
        "db": {"memory": _step(_flat(rng, 2e9, noise=0.002), ONSET, 1.05)},
    }
    assert rank_by_deviation(series, [("web", "db")], ONSET)[0][0] == "db"


def test_only_the_first_points_after_the_onset_count() -> None:
    """The window after a fault may hold the next one: api's jump four points later is not
    this fault's."""
    rng = np.random.default_rng(4)
    series = {
        "db": {"latency": _step(_flat(rng, 4), ONSET, 2)},
        "api": {"latency": _step(_flat(rng, 90), ONSET + 4, 10)},
    }
    assert rank_by_deviation(series, [], ONSET)[0][0] == "db"


def test_a_reference_period_replaces_the_history_before_the_onset() -> None:
    rng = np.random.default_rng(5)
    series = {
        "db": {"latency": _step(_flat(rng, 4), ONSET, 1.5)},
        "api": {"latency": _flat(rng, 9)},
    }
    noisy = {"db": {"latency": _flat(rng, 4, noise=0.5) * 4}}
    quiet = {"db": {"latency": _flat(rng, 4) * 4}}
    assert (
        dict(rank_by_deviation(series, [], ONSET, reference=quiet))["db"]
        > 5 * dict(rank_by_deviation(series, [], ONSET, reference=noisy))["db"]
    )
