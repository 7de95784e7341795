"""Which incident an alert joins before its incident is diagnosed: one fault's alerts together,
two faults in parts of the estate that share nothing apart."""

from __future__ import annotations

from orchestrator.correlation import Tracked, correlate, downstream, related
from orchestrator.state import Alert

# web -> api -> orders-db; web -> search -> search-db; reports -> orders-db; jobs -> queue
DEPENDS_ON = {
    "web": ["api", "search"],
    "api": ["orders-db"],
    "search": ["search-db"],
    "reports": ["orders-db"],
    "jobs": ["queue"],
}


def _alert(service: str, step: int = 10) -> Alert:
    return Alert(
        fingerprint=f"cloudwatch:{service}-errors", source="cloudwatch", service=service,
        summary=f"{service} errors", step=step, fault_hint=None, details={},
    )  # fmt: skip


def _incident(service: str) -> Tracked:
    return Tracked(id=f"inc-{service}", services={service}, alerted={service}, opened_step=9)


def test_related_is_what_shares_something_below() -> None:
    assert related("orders-db", DEPENDS_ON) == {"orders-db", "api", "reports", "web"}
    # api's caller web also calls search, but api and search share nothing below
    assert related("api", DEPENDS_ON) == {"api", "orders-db", "web", "reports"}
    assert related("jobs", DEPENDS_ON) == {"jobs", "queue"}


def test_a_dependency_and_its_callers_alerts_are_one_incident() -> None:
    incident = _incident("orders-db")
    for service in ("api", "web", "reports"):
        assert correlate(_alert(service), [incident], DEPENDS_ON) is incident


def test_callers_sharing_a_dependency_are_one_incident() -> None:
    """A fault of orders-db shows on both its callers: the second caller's alert joins."""
    assert correlate(_alert("reports"), [_incident("api")], DEPENDS_ON) is not None


def test_alerts_about_parts_that_share_nothing_are_two_incidents() -> None:
    """search-db and orders-db are both below web, but a fault in one does not show in the
    other: before diagnosis, an alert about one does not join the other's incident."""
    assert correlate(_alert("search-db"), [_incident("orders-db")], DEPENDS_ON) is None
    assert correlate(_alert("queue"), [_incident("api")], DEPENDS_ON) is None


def test_downstream_is_every_dependency_nearest_first_each_once() -> None:
    depends_on = {"edge": ["media", "billing"], "media": ["db", "cache"], "billing": ["db"]}

    assert downstream("edge", depends_on) == ["media", "billing", "db", "cache"]
    assert downstream("db", depends_on) == []
