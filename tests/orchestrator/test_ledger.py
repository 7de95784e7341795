"""The commander's durable records: one execution per key, and revision history, across
restarts (a new ledger object on the same file is a restarted process)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.ledger import ActionLedger, ChangeLedger


def test_a_key_is_claimed_once_even_by_a_restarted_process(tmp_path: Path) -> None:
    first = ActionLedger(tmp_path / "ledger.sqlite")
    assert first.begin("inc-1:1:rollback")
    assert not first.begin("inc-1:1:rollback")
    first.close()  # the process dies before finishing

    again = ActionLedger(tmp_path / "ledger.sqlite")
    assert not again.begin("inc-1:1:rollback")
    entry = again.get("inc-1:1:rollback")
    assert entry is not None
    assert (entry.status, entry.result) == ("started", None)

    again.finish("inc-1:1:rollback", {"status": "succeeded"})
    done = again.get("inc-1:1:rollback")
    assert done is not None
    assert (done.status, done.result) == ("done", {"status": "succeeded"})
    assert again.get("inc-1:2:rollback") is None


def test_revision_changes_are_remembered_across_a_restart(tmp_path: Path) -> None:
    log = ChangeLedger(tmp_path / "ledger.sqlite")
    assert not log.observe("checkout", "checkout:1", 0), "a first sighting is not a change"
    assert not log.observe("checkout", "checkout:1", 1)
    assert log.observe("checkout", "checkout:2", 5)
    log.close()

    restarted = ChangeLedger(tmp_path / "ledger.sqlite")
    assert restarted.changes() == {"checkout": [5]}
    assert not restarted.observe("checkout", "checkout:2", 6)
    assert restarted.observe("checkout", "checkout:1", 9), "a rollback is a change too"
    assert restarted.changes() == {"checkout": [5, 9]}
