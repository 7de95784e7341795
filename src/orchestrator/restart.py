"""What a process starting on a state directory does with the incidents it finds there.

- Incidents of the run it starts (an estate file's name is its run id, so a restart commands
  the same run) are adopted: waits and approvals are pending again, a thread that died inside a
  node runs on from its last checkpoint (``Commander.recover``). One listed whose thread never
  ran (the process died between listing it and its first checkpoint) is closed, saying so: its
  alerts are taken again, from the inbox or the next scan.
- Unfinished incidents of another run cannot be worked: their estate is not the one commanded
  (the embedded demo builds a new simulated estate at each start, and its old one ended with the
  process that simulated it; or the estate file now names another estate). Each is closed with
  that reason, on its own run's clock, in its timeline, its summary and the audit trail: a
  person sees why, and nothing stays "open" forever in the list.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator import journal
from orchestrator.commander import Commander
from orchestrator.state import Entry
from orchestrator.state_dir import RunClocks, SqliteIncidentStore


def take_over(commander: Commander, store: SqliteIncidentStore, clocks: RunClocks) -> list[str]:
    """Close the open incidents of other runs, then adopt this run's; returns the ids of this
    run's incidents still open."""
    for incident_id in store.open_ids(this_run=False):
        _retire(commander, store, clocks, incident_id)
    return commander.recover(store.ids())


def _retire(
    commander: Commander, store: SqliteIncidentStore, clocks: RunClocks, incident_id: str
) -> None:
    run = store.run_of(incident_id) or "?"
    listed = store.get(incident_id)
    if listed is None:
        return
    clock = clocks.clock(run)
    step = clock.step if clock is not None else 0
    reason = (
        f"closed at restart: its estate (run {run}) is not the one commanded now "
        f"({store.run_id}); a simulated demo estate ends with the process that ran it"
    )
    config = commander.config_of(incident_id)
    # An incident is listed before its thread runs: one whose process died in between has no
    # thread to close (its alert, never marked done, is ingested again into this run).
    if commander.graph.get_state(config).values:
        commander.graph.update_state(
            config,
            {"status": "closed", "timeline": [Entry(step=step, node="resolve", text=reason)]},
            as_node="resolve",
        )
    if commander.trail is not None:
        commander.trail.append([journal.closed_at_restart(incident_id, reason, step, run=run)])
    updated = listed.updated_at if clock is None else clock.now
    store.put(replace(listed, status="closed", reason=reason, pending_approval=None,
                      updated_at=updated))  # fmt: skip
