"""People's operations as data: what the gateway writes on the alert stream is the operation the
worker reads back, anything else is refused with a reason, and the worker's outcome turns back
into what the commander itself would have returned or raised."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from orchestrator.commander import Commander, IncidentNotFoundError, NotAwaitingApprovalError
from orchestrator.context import Clock, RunContext
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger
from orchestrator.operations import (
    Acknowledge,
    Answer,
    Assign,
    Note,
    Operation,
    Resolve,
    apply,
    from_json,
    outcome,
    raise_for,
    to_json,
)
from services.aws.port import AwsPort
from services.aws.resources import Estate
from services.settings import AwsMode

OPERATIONS: list[Operation] = [
    Acknowledge("inc-1", "ana"),
    Assign("inc-1", "ana", "dba@example.com"),
    Note("inc-1", "ana", 'looking at the ALB; «ünïcode» and "quotes"\nand lines'),
    Resolve("inc-1", "bo", "rolled back by hand"),
    Answer("inc-1", "cy", "grant", "d1g35t"),
    Answer("inc-1", "cy", "deny", "d1g35t", comment="not during the sale"),
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: type(op).__name__)
def test_an_operation_survives_the_trip_through_the_stream(operation: Operation) -> None:
    sent = json.dumps(to_json(operation))  # what goes on the wire

    assert from_json(json.loads(sent)) == operation


def test_each_operation_is_named_on_the_wire() -> None:
    assert [to_json(op)["op"] for op in OPERATIONS] == [
        "acknowledge", "assign", "note", "resolve", "answer", "answer",
    ]  # fmt: skip
    assert to_json(Note("inc-1", "ana", "hi")) == {
        "op": "note", "incident_id": "inc-1", "by": "ana", "text": "hi",
    }  # fmt: skip


def test_from_json_leaves_its_argument_alone() -> None:
    data = to_json(Acknowledge("inc-1", "ana"))
    before = dict(data)

    from_json(data)

    assert data == before


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"op": "reopen", "incident_id": "inc-1", "by": "ana"}, "not an operation: 'reopen'"),
        ({"incident_id": "inc-1", "by": "ana"}, "not an operation: None"),
        ({"op": "acknowledge", "incident_id": "inc-1"}, "malformed acknowledge operation"),
        ({"op": "note", "incident_id": "inc-1", "by": "ana"}, "malformed note operation"),
        (
            {"op": "resolve", "incident_id": "inc-1", "by": "bo", "reason": "x", "force": True},
            "malformed resolve operation",
        ),
        (
            {"op": "answer", "incident_id": "inc-1", "by": "cy", "answer": "maybe", "digest": "d"},
            "an answer is grant or deny, not 'maybe'",
        ),
    ],
    ids=["unknown op", "no op", "missing by", "missing text", "extra field", "bad answer"],
)
def test_what_is_not_an_operation_is_refused_with_the_reason(
    data: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        from_json(data)


@pytest.mark.parametrize(
    ("result", "changed"), [("changed", True), ("unchanged", False)], ids=["changed", "unchanged"]
)
def test_raise_for_returns_whether_the_operation_changed_the_incident(
    result: Any, changed: bool
) -> None:
    assert raise_for(result, "") is changed


@pytest.mark.parametrize(
    ("result", "error"),
    [("not_found", IncidentNotFoundError), ("not_awaiting", NotAwaitingApprovalError)],
    ids=["not found", "not awaiting"],
)
def test_raise_for_raises_the_commanders_own_error_with_its_message(
    result: Any, error: type[Exception]
) -> None:
    message = "inc-7 has no action awaiting approval"

    with pytest.raises(error) as raised:
        raise_for(result, message)

    assert str(raised.value) == message


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: type(op).__name__)
def test_a_remote_caller_gets_what_the_commander_itself_raises(
    operation: Operation, idle_commander: Commander
) -> None:
    commander = idle_commander
    with pytest.raises(IncidentNotFoundError) as local:
        apply(commander, operation)

    result, message = outcome(commander, operation)

    assert result == "not_found"
    with pytest.raises(IncidentNotFoundError) as remote:
        raise_for(result, message)
    assert str(remote.value) == str(local.value) == "no incident 'inc-1'"


@pytest.fixture
def idle_commander(tmp_path: Path) -> Iterator[Commander]:
    """A real commander with no incident yet: nothing it is asked here reaches AWS."""
    port = AwsPort(  # an endpoint nobody answers on
        mode=AwsMode.ACCOUNT, region="us-east-1", config=Config(), endpoint_url="http://127.0.0.1:9"
    )
    estate = Estate(
        run_id="run", prefix="ic-test", region="us-east-1", services={}, depends_on={},
        quarantine_security_group_id="sg-0", vpc_id="vpc-0", vpc_cidr="10.0.0.0/16",
    )  # fmt: skip
    ledger = ActionLedger(tmp_path / "ledger.sqlite")
    clock = Clock(start=datetime(2026, 3, 1, tzinfo=UTC), step_s=60)
    ctx = RunContext(port=port, estate=estate, catalogue={}, ledger=ledger, clock=clock)
    yield Commander(build_graph(None), ctx)
    ledger.close()
