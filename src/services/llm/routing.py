"""FinOps model routing: the small model for simple incidents, the large one for complex ones.

A pure function of what the incident looks like, so the choice is predictable and testable:
an incident is complex when it spans several services, shows many anomalies, or when the rules
are unsure (no hypothesis, a weak one, or two close ones to tell apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

MANY_SERVICES = 3
MANY_ANOMALIES = 4
WEAK = 0.5
CLOSE = 0.15


class Tier(StrEnum):
    SMALL = "small"
    LARGE = "large"


def route(services: int, anomalies: int, confidences: Sequence[float]) -> Tier:
    """The model tier for an incident with ``services`` services in scope, ``anomalies``
    anomalous metrics and rule hypotheses of ``confidences`` (best first)."""
    if services >= MANY_SERVICES or anomalies >= MANY_ANOMALIES:
        return Tier.LARGE
    ranked = sorted(confidences, reverse=True)
    if not ranked or ranked[0] < WEAK:
        return Tier.LARGE
    if len(ranked) > 1 and ranked[0] - ranked[1] < CLOSE:
        return Tier.LARGE
    return Tier.SMALL
