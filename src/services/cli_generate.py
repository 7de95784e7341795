"""``scenario generate`` and ``bench generated``: scenario files the commander was never tuned on,
written to disk or run in memory and scored against the oracle's verdicts."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.bench import generated as bench
from orchestrator.context import CommanderPolicy
from orchestrator.runner import RunOptions, run_scenario
from services.aws.port import open_aws_port
from services.llm import configured_advisor
from services.scenario.generate import generate, generate_range
from services.scenario.loader import LoadedScenario
from services.settings import AwsMode, get_settings


def register(scenario_app: typer.Typer, bench_app: typer.Typer) -> None:
    scenario_app.command("generate")(scenario_generate)
    bench_app.command("generated")(bench_generated)


def scenario_generate(
    seed: Annotated[int, typer.Option(help="The first scenario's seed.")],
    count: Annotated[int, typer.Option(min=1, help="How many scenarios (seeds seed..).")] = 20,
    out: Annotated[Path, typer.Option(help="Folder for the .yaml files.")] = Path("generated"),
) -> None:
    """Write generated scenario files (format v1, expect from the spec's oracle)."""
    out.mkdir(parents=True, exist_ok=True)
    for item in generate_range(seed, count):
        path = out / f"{item.name}.yaml"
        path.write_text(item.to_yaml(), encoding="utf-8")
        typer.echo(f"{path}: {item.klass}, {len(item.scenario.services)} services")


def parse_seeds(text: str) -> range:
    """``A-B`` (inclusive) or a single seed ``A``."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError as exc:
        raise typer.BadParameter("write seeds as A-B, e.g. 100000-100019") from exc
    if high < low:
        raise typer.BadParameter("the range A-B needs A <= B")
    return range(low, high + 1)


def bench_generated(
    seeds: Annotated[
        str, typer.Option(help="Seeds A-B; development 0-99999, reporting 100000-199999.")
    ],
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline", help="Also run the world alone: downtime avoided."
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per scenario.")] = False,
) -> None:
    """Generate scenarios in memory, run each through the commander, score by class."""
    settings = get_settings()
    policy = CommanderPolicy.from_settings(settings)
    llm = configured_advisor(settings)
    scores = []
    started = time.perf_counter()
    with open_aws_port(settings) as port:
        for index, seed in enumerate(parse_seeds(seeds)):
            item = generate(seed)
            loaded = LoadedScenario(item.scenario, Path(f"<generated seed {seed}>"))
            runs = []
            for commander in (True, False) if baseline else (True,):
                if (index or not commander) and port.mode is AwsMode.EMBEDDED:
                    port.reset_emulator()  # each run gets a fresh emulated account
                options = RunOptions(
                    policy=policy, commander=commander, keep_timeline=False, llm=llm
                )
                runs.append(run_scenario(port, loaded, options))
            result = bench.score(item, runs[0], runs[1] if baseline else None)
            scores.append(result)
            if as_json:
                typer.echo(json.dumps(asdict(result)))
    if not as_json:
        typer.echo(bench.render(scores))
        typer.echo(f"\n{len(scores)} scenarios in {time.perf_counter() - started:.0f}s wall")
