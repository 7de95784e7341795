"""``scenario generate`` and ``bench generated``: scenario files the commander was never tuned on,
written to disk or run in memory and scored against the oracle's verdicts."""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict
from multiprocessing.util import Finalize
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
    jobs: Annotated[
        int,
        typer.Option(
            min=1, help="Scenarios run at once, each process with its own emulated account."
        ),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per scenario.")] = False,
) -> None:
    """Generate scenarios in memory, run each through the commander, score by class."""
    chosen = parse_seeds(seeds)
    scores: list[bench.Score] = []
    started = time.perf_counter()

    def record(result: bench.Score) -> None:
        scores.append(result)
        if as_json:
            typer.echo(json.dumps(asdict(result)))

    if jobs == 1:
        with _SeedRunner() as runner:
            for seed in chosen:
                record(runner.run(seed, baseline))
    else:
        # Scenarios are independent and each run is CPU-bound in one process, so separate
        # processes (fork: nothing is started in this one) are what scales; each keeps its own
        # emulator for all the seeds it is given.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(jobs, context, initializer=_start_worker) as pool:
            for result in pool.map(_run_in_worker, chosen, [baseline] * len(chosen)):
                record(result)
    if not as_json:
        typer.echo(bench.render(sorted(scores, key=lambda s: s.seed)))
        typer.echo(f"\n{len(scores)} scenarios in {time.perf_counter() - started:.0f}s wall")


class _SeedRunner:
    """One process's settings, LLM advisor and AWS port, reused for every seed it runs."""

    def __init__(self) -> None:
        settings = get_settings()
        self._policy = CommanderPolicy.from_settings(settings)
        self._llm = configured_advisor(settings)
        self._stack = ExitStack()
        self._port = self._stack.enter_context(open_aws_port(settings))
        self._runs = 0

    def __enter__(self) -> _SeedRunner:
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def run(self, seed: int, baseline: bool) -> bench.Score:
        item = generate(seed)
        loaded = LoadedScenario(item.scenario, Path(f"<generated seed {seed}>"))
        runs = []
        for commander in (True, False) if baseline else (True,):
            if self._runs and self._port.mode is AwsMode.EMBEDDED:
                self._port.reset_emulator()  # each run gets a fresh emulated account
            self._runs += 1
            options = RunOptions(
                policy=self._policy, commander=commander, keep_timeline=False, llm=self._llm
            )
            runs.append(run_scenario(self._port, loaded, options))
        return bench.score(item, runs[0], runs[1] if baseline else None)


_worker: _SeedRunner | None = None


def _start_worker() -> None:
    global _worker
    _worker = _SeedRunner()
    # a pool's worker ends with os._exit, past atexit; multiprocessing runs its finalizers
    Finalize(_worker, _worker.__exit__, exitpriority=10)


def _run_in_worker(seed: int, baseline: bool) -> bench.Score:
    assert _worker is not None, "the pool's initializer starts the runner"
    return _worker.run(seed, baseline)
