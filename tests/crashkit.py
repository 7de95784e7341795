"""A commander in its own process, fed simulated steps over stdin, for crash tests.

Protocol, one JSON document per line:
  in:  {"setup": {...}}                 once: endpoint, estate, catalogue, clock, state folder
  in:  {"step": N, "events": [...]}     each step: tick, ingest, answer approvals
  out: {"ready": [open incident ids]}   after setup (and recovery of checkpointed threads)
  out: {"done": N}                      after each step
The process keeps its checkpoints and ledger in the state folder, so a killed one can be
replaced by a new one that recovers and carries on.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.checkpoints import open_checkpointer
from orchestrator.commander import Commander
from orchestrator.context import Clock, RunContext, ServiceProfile
from orchestrator.graph import build_graph
from orchestrator.ledger import ActionLedger, ChangeLedger
from services.aws.port import AwsPort, botocore_config
from services.aws.resources import Estate, ServiceResources
from services.scenario.model import ServiceKind
from services.settings import AwsMode, Settings


def estate_from(data: dict[str, Any]) -> Estate:
    services = {
        name: ServiceResources(**{**res, "kind": ServiceKind(res["kind"])})
        for name, res in data.pop("services").items()
    }
    return Estate(**data, services=services)


def main() -> None:
    setup = json.loads(sys.stdin.readline())["setup"]
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    port = AwsPort(
        mode=AwsMode.EMBEDDED,
        region=settings.aws_region,
        config=botocore_config(settings),
        endpoint_url=setup["endpoint"],
    )
    state = Path(setup["state_dir"])
    ctx = RunContext(
        port=port,
        estate=estate_from(setup["estate"]),
        catalogue={k: ServiceProfile(**v) for k, v in setup["catalogue"].items()},
        ledger=ActionLedger(state / "ledger.sqlite"),
        changelog=ChangeLedger(state / "ledger.sqlite"),
        clock=Clock(start=datetime.fromisoformat(setup["start"]), step_s=setup["step_s"]),
    )
    with open_checkpointer(state / "checkpoints.sqlite") as saver:
        commander = Commander(build_graph(saver), ctx)
        print(json.dumps({"ready": commander.recover()}), flush=True)
        for line in sys.stdin:
            message = json.loads(line)
            ctx.clock.step = message["step"]
            commander.tick()
            commander.ingest(message["events"])
            for request in commander.pending_approvals():
                commander.answer(request["incident_id"], "grant", "crash-test", request["token"])
            print(json.dumps({"done": message["step"]}), flush=True)


if __name__ == "__main__":
    main()
