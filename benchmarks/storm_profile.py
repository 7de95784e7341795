"""Where the storm's time goes: the commander's side of routed alerts under cProfile.

The same estate as ``alert_storm.py`` and the same live commander ``serve`` runs (``open_live``
with a SQLite audit trail, state directory and checkpoints, estate paused after its first step),
built in this process so the profiler sees the commander's turns (it profiles the calling
thread: the turns run here, under ``LiveCommander.call``). ``--alerts`` routed signals, in the
storm's order (each fingerprint ``--repeat`` times), are ingested in batches of ``--batch`` as
the live worker takes them from its inbox; the top functions by cumulative and by own time are
printed, and the wall time per alert of the two kinds of turn: one that opens an incident (its
graph runs) and one that joins an incident.

Run: ``.venv/bin/python benchmarks/storm_profile.py [--services 200] [--alerts 2000]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from functools import partial
from pathlib import Path

from stormkit import DEFAULT_SERVICES, Plan, write_estate

from orchestrator.commander import Commander
from orchestrator.context import CommanderPolicy
from orchestrator.intake import Signal
from orchestrator.live import open_live
from services.audit import AuditTrail
from services.aws.port import open_aws_port
from services.scenario.loader import load_scenario
from services.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=DEFAULT_SERVICES)
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    settings = Settings(_env_file=None, aws_mode="embedded")  # type: ignore[call-arg]
    with tempfile.TemporaryDirectory(prefix="storm-profile-") as tmp:
        folder = Path(tmp)
        path, services = write_estate(folder, args.services)
        plan = Plan("profile", services, args.alerts, 1.0, args.repeat)
        signals = [
            Signal(fingerprint=f"generic:{b['fingerprint']}", source="generic", firing=True,
                   title=b["title"], service=b["service"])
            for b in map(plan.body, range(args.alerts))
        ]  # fmt: skip
        started = time.perf_counter()
        with (
            open_aws_port(settings) as port,
            AuditTrail(folder / "audit.sqlite") as trail,
            open_live(
                port, load_scenario(path), state_dir=folder / "state",
                policy=CommanderPolicy.from_settings(settings), trail=trail, metrics=None,
                speed=1e-6, approval_ttl_s=settings.approval_ttl_s,
            ) as live,
        ):  # fmt: skip
            live.call(lambda _: None)  # after the first step
            ready = time.perf_counter() - started
            print(f"{len(services)} services, commander ready in {ready:.0f} s")
            opened_s = joined_s = 0.0
            opened = joined = 0
            profile = cProfile.Profile()
            for at in range(0, len(signals), args.batch):
                for signal in signals[at : at + args.batch]:
                    before = live.commander.alerts_in - live.commander.alerts_deduplicated
                    began = time.perf_counter()
                    profile.enable()
                    live.call(partial(Commander.ingest_signals, signals=[signal]))
                    profile.disable()
                    spent = time.perf_counter() - began
                    if live.commander.alerts_in - live.commander.alerts_deduplicated > before:
                        opened, opened_s = opened + 1, opened_s + spent
                    else:
                        joined, joined_s = joined + 1, joined_s + spent
            commander = live.commander
            print(
                f"{len(signals)} routed alerts: {opened} opened an incident "
                f"({opened_s / max(1, opened) * 1000:.1f} ms each), {joined} joined one "
                f"({joined_s / max(1, joined) * 1000:.2f} ms each); {len(commander.incidents)} "
                f"incidents; {(opened_s + joined_s) / len(signals) * 1000:.1f} ms per alert, "
                f"{len(signals) / (opened_s + joined_s):.0f} alerts/s on one core"
            )
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        print(f"\n-- by {order} --")
        print("\n".join(out.getvalue().splitlines()[6:]))


if __name__ == "__main__":
    main()
