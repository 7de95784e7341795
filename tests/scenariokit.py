"""Hypothesis strategies for valid scenario documents the project has never seen."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from services.scenario.model import FAULT_TARGET_KINDS, FaultKind, NoiseKind, ServiceKind

EVENT_KINDS = [k.value for k in FaultKind] + [k.value for k in NoiseKind]


def event_kinds_for(service_kind: str) -> list[str]:
    """Every event kind that may target a service of ``service_kind``."""
    kind = ServiceKind(service_kind)
    return [k for k in EVENT_KINDS if k not in FAULT_TARGET_KINDS or kind in FAULT_TARGET_KINDS[k]]


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    steps: tuple[int, int],
    events: tuple[int, int],
    event_at: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A valid scenario as a mapping: 1 to 4 services of any kind on a random dependency DAG,
    ``events`` events of kinds their targets may take, at minutes drawn from ``event_at``
    (anywhere in the run when None), over a run of ``steps`` one-minute steps."""
    length = draw(st.integers(*steps))
    services: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 4))):
        service: dict[str, Any] = {
            "name": f"svc{index}",
            "kind": draw(st.sampled_from([k.value for k in ServiceKind])),
            "tier": draw(st.sampled_from(["critical", "important", "supporting"])),
        }
        earlier = [s["name"] for s in services]
        if earlier:  # depend only on earlier services: always a DAG
            service["depends_on"] = draw(st.lists(st.sampled_from(earlier), unique=True))
        if draw(st.booleans()):
            service["noise"] = draw(st.floats(0, 0.2))
        if draw(st.booleans()):
            service["seasonality"] = "daily"
        if draw(st.booleans()):
            service["protected"] = True
        services.append(service)
    first, last = event_at if event_at is not None else (0, length - 1)
    timeline = []
    for _ in range(draw(st.integers(*events))):
        target = draw(st.sampled_from(services))
        timeline.append(
            {
                "at": f"{draw(st.integers(first, last))}m",
                "kind": draw(st.sampled_from(event_kinds_for(target["kind"]))),
                "target": target["name"],
            }
        )
    return {
        "version": 1,
        "name": "generated",
        "seed": draw(st.integers(0, 2**31)),
        "duration": f"{length}m",
        "step": "60s",
        "services": services,
        "events": timeline,
    }
