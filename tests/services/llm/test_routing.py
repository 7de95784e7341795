"""FinOps routing: the small model for simple incidents, the large one for complex ones."""

from __future__ import annotations

import pytest

from services.llm import Tier, route


@pytest.mark.parametrize(
    ("services", "anomalies", "confidences", "tier"),
    [
        (1, 2, [0.9], Tier.SMALL),
        (2, 3, [0.8, 0.4], Tier.SMALL),
        (3, 2, [0.9], Tier.LARGE),  # many services
        (1, 4, [0.9], Tier.LARGE),  # many anomalies
        (1, 1, [], Tier.LARGE),  # the rules found nothing
        (1, 1, [0.4], Tier.LARGE),  # the rules are unsure
        (1, 1, [0.7, 0.6], Tier.LARGE),  # two close hypotheses to tell apart
        (1, 1, [0.6, 0.7], Tier.LARGE),  # order of the input does not matter
    ],
)
def test_route(services: int, anomalies: int, confidences: list[float], tier: Tier) -> None:
    assert route(services, anomalies, confidences) is tier
