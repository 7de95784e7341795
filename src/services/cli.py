"""``incident-commander``: the command line. Commander errors become exit code 2 and a message on
stderr here, in one place; ``--check`` failures are exit code 1."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from orchestrator import scoreboard
from orchestrator.bench import nezha as rca_nezha
from orchestrator.bench import rca
from orchestrator.bench.nab import render, resolve_data_dir, run_nab
from orchestrator.context import CommanderPolicy
from orchestrator.result import ScenarioResult
from orchestrator.runner import ApprovalAnswer, RunOptions, run_scenario
from services import cli_cluster, cli_estate, cli_generate
from services.audit import AuditEntry, AuditTrail
from services.aws.port import open_aws_port
from services.errors import CommanderError, ConfigurationError
from services.estate.load import load_estate
from services.estate.realise import realise
from services.gateway.auth.keys import ApiKeyStore, KeyStore
from services.gateway.auth.rbac import Role
from services.llm import configured_advisor
from services.pg.keys import PgApiKeyStore
from services.pg.pool import open_pool
from services.scenario.loader import builtin_scenarios, load_scenario, resolve_scenarios
from services.settings import AwsMode, Settings, get_settings

app = typer.Typer(
    name="incident-commander",
    help="Autonomous incident commander: five agents vote on every remediation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
scenario_app = typer.Typer(
    help="Scenario files: list the built-in library, validate and run files.",
    no_args_is_help=True,
)
app.add_typer(scenario_app, name="scenario")
bench_app = typer.Typer(
    help="Benchmarks: score the agents on public data sets and on the scenario suite.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")
keys_app = typer.Typer(
    help="The gateway's API keys: create (shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(
    help="The audit trail: verify its hash chain, show its entries.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")
cli_cluster.register(app)
cli_estate.register(app)
cli_generate.register(scenario_app, bench_app)


def _out(text: str) -> None:
    typer.echo(text)


def _err(text: str) -> None:
    typer.echo(text, err=True)


@scenario_app.command("list")
def scenario_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per scenario.")] = False,
) -> None:
    """Show the built-in scenario library."""
    settings = get_settings()
    for name, path in builtin_scenarios(settings.scenario_library).items():
        scenario = load_scenario(path).scenario
        faults: list[str] = sorted({event.kind for event in scenario.faults})
        if as_json:
            _out(
                json.dumps(
                    {
                        "name": name,
                        "path": str(path),
                        "faults": faults,
                        "services": len(scenario.services),
                        "duration_s": scenario.duration,
                        "description": scenario.description,
                    }
                )
            )
        else:
            shown = ", ".join(faults) or "(noise only)"
            _out(f"{name:36} {shown:44} {scenario.description}")


@scenario_app.command("validate")
def scenario_validate(
    paths: Annotated[list[str], typer.Argument(help="Files, folders or built-in names.")],
) -> None:
    """Check scenario files against format v1 without running them."""
    for path in resolve_scenarios(paths, get_settings().scenario_library):
        loaded = load_scenario(path)
        for warning in loaded.warnings:
            _err(f"{path}: warning: {warning}")
        _out(f"{path}: valid ({loaded.scenario.name}, {loaded.scenario.steps} steps)")


@scenario_app.command("run")
def scenario_run(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Scenario files, folders of them, or built-in scenario names."),
    ] = None,
    library: Annotated[
        bool, typer.Option("--library", help="Run every built-in scenario.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one result object per line.")
    ] = False,
    approve: Annotated[
        str,
        typer.Option(
            help="How a simulated person answers approval requests: grant, deny or never."
        ),
    ] = "grant",
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when any scenario fails its expectations.")
    ] = False,
    timeline: Annotated[
        bool, typer.Option("--timeline/--no-timeline", help="Include the timeline in --json.")
    ] = False,
) -> None:
    """Run scenarios through the commander against the configured AWS endpoint."""
    if approve not in ("grant", "deny", "never"):
        raise typer.BadParameter("must be grant, deny or never", param_hint="--approve")
    settings = get_settings()
    refs = list(paths or [])
    if library:
        refs.extend(builtin_scenarios(settings.scenario_library))
    if not refs:
        raise typer.BadParameter("name at least one scenario, or pass --library")
    files = resolve_scenarios(refs, settings.scenario_library)
    loaded = [load_scenario(path) for path in files]  # validate every file before running any
    answer: ApprovalAnswer = approve  # type: ignore[assignment]
    failures = 0
    llm = configured_advisor(settings)
    with open_aws_port(settings) as port:
        for index, item in enumerate(loaded):
            if index and port.mode is AwsMode.EMBEDDED:
                port.reset_emulator()  # each scenario gets a fresh emulated account
            for warning in item.warnings:
                _err(f"{item.source}: warning: {warning}")
            options = RunOptions(
                approve=answer,
                policy=CommanderPolicy.from_settings(settings),
                state_dir=settings.state_dir if "state_dir" in settings.model_fields_set else None,
                postgres_url=(
                    settings.postgres_url.get_secret_value() if settings.postgres_url else None
                ),
                llm=llm,
            )
            result = run_scenario(port, item, options)
            failures += not result.passed
            _out(_render(result, as_json=as_json, timeline=timeline))
    if not as_json and len(loaded) > 1:
        _out(f"{len(loaded) - failures} passed, {failures} failed")
    if check and failures:
        raise typer.Exit(1)


@bench_app.command("nab")
def bench_nab(
    data: Annotated[
        Path | None,
        typer.Option(
            help="NAB corpus folder (data/, labels/, config/, results/); default "
            "../shared/data/nab from here, then from the repository."
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="Folder for NAB's results files: <out>/<detector>/<category>/..."),
    ] = Path("nab-results"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: scores, thresholds, table.")
    ] = False,
) -> None:
    """Score the detection agent on the Numenta Anomaly Benchmark with NAB's own rules."""
    report = run_nab(resolve_data_dir(data), out)
    _out(json.dumps(report.to_json()) if as_json else render(report))


@bench_app.command("scenarios")
def bench_scenarios(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Scenario files, folders or built-in names; default: the library."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per scenario, then the totals.")
    ] = False,
) -> None:
    """Score the commander on a scenario suite, each scenario against a no-commander run."""
    settings = get_settings()
    refs = list(paths or builtin_scenarios(settings.scenario_library))
    loaded = [load_scenario(path) for path in resolve_scenarios(refs, settings.scenario_library)]
    policy = CommanderPolicy.from_settings(settings)
    llm = configured_advisor(settings)
    rows = []
    with open_aws_port(settings) as port:
        for index, item in enumerate(loaded):
            results = []
            for commander in (True, False):
                if (index or not commander) and port.mode is AwsMode.EMBEDDED:
                    port.reset_emulator()
                options = RunOptions(
                    policy=policy, commander=commander, keep_timeline=False, llm=llm
                )
                results.append(run_scenario(port, item, options))
            rows.append(scoreboard.row(item.scenario, results[0], results[1]))
    total = scoreboard.totals(rows)
    if as_json:
        for r in rows:
            _out(
                json.dumps(
                    {
                        **asdict(r),
                        "avoided_usd": r.avoided_usd,
                        "spend_avoided_usd": r.spend_avoided_usd,
                    }
                )
            )
        _out(json.dumps({"totals": asdict(total)}))
    else:
        _out(scoreboard.render(rows, total))


@bench_app.command("rca")
def bench_rca(
    data: Annotated[
        Path | None, typer.Argument(help="A data set in the layout --format names.")
    ] = None,
    data_format: Annotated[
        str, typer.Option("--format", help="nezha: the Nezha artifact's own layout.")
    ] = "nezha",
    metrics: Annotated[
        Path | None, typer.Option(help="Folder of <service>/<metric>.csv files.")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="JSON list of {time, service} fault labels.")
    ] = None,
    edges: Annotated[
        Path | None, typer.Option(help="JSON list of [caller, dependency] pairs.")
    ] = None,
    nezha: Annotated[
        Path | None,
        typer.Option(help="A Nezha data set in the artifact's layout (as --format nezha DIR)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Root-cause localisation of the diagnosis agent on labelled metrics, AS@1/3/5, beside the
    live commander's ranking and a plain z-score ranking on the same cuts; by label day too."""
    if data is not None and data_format != "nezha":
        raise typer.BadParameter(f"unknown --format {data_format!r}: nezha is the one known")
    nezha = nezha or data
    reference: dict[str, dict[str, rca.Series]] = {}
    if nezha is not None:
        series, faults, pairs = rca_nezha.load(nezha)
        reference = rca_nezha.load_reference(nezha)
    elif metrics is not None and labels is not None:
        series = rca.load_metrics(metrics)
        faults = rca.load_labels(labels, list(series))
        pairs = rca.load_edges(edges) if edges else []
    else:
        raise typer.BadParameter("give --format nezha DIR, or --metrics and --labels")
    rows = rca.evaluate(series, faults, pairs, reference=reference)
    days = sorted({case.time.date() for case in rows[rca.RANKINGS[0]].cases})

    def scores(day: date | None = None) -> dict[str, dict[str, float]]:
        return {
            name: {
                f"AS@{k}": round(report.on(day).accuracy_at(k) if day else report.accuracy_at(k), 4)
                for k in (1, 3, 5)
            }
            for name, report in rows.items()
        }

    if as_json:
        by_day = {str(day): scores(day) for day in days} if len(days) > 1 else {}
        _out(json.dumps({"labels": len(faults), **scores(), "by_day": by_day}))
        return
    _out(f"{len(faults)} labelled faults")
    for name, got in scores().items():
        _out(f"  {name:<24} " + ", ".join(f"{k} {v:.2%}" for k, v in got.items()))
    for day in days if len(days) > 1 else []:
        _out(f"{day}: {len(rows[rca.RANKINGS[0]].on(day).cases)} labelled faults")
        for name, got in scores(day).items():
            _out(f"  {name:<24} " + ", ".join(f"{k} {v:.2%}" for k, v in got.items()))


@contextmanager
def _key_store() -> Iterator[KeyStore]:
    """The gateway's key store: the cluster's Postgres when it is configured, else the file."""
    settings = get_settings()
    if settings.postgres_url is not None and settings.cluster:
        url = settings.postgres_url.get_secret_value()
        with open_pool(url, schema=settings.postgres_schema, max_size=1) as pool:
            yield PgApiKeyStore(pool)
        return
    path = settings.api_keys_db
    path.parent.mkdir(parents=True, exist_ok=True)
    with ApiKeyStore(path) as store:
        yield store


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    role: Annotated[
        list[str],
        typer.Option("--role", help="viewer, responder, approver, admin or ingest (repeat)."),
    ],
) -> None:
    """Create a key; the full key is printed once and cannot be shown again."""
    known = {r.value for r in Role}
    unknown = sorted(set(role) - known)
    if unknown:
        raise typer.BadParameter(
            f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            param_hint="--role",
        )
    with _key_store() as store:
        key_id, secret = store.create(name, role)
    _out(f"key id: {key_id}")
    _out(f"api key (shown once, store it now): {secret}")


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """Every key with its roles and state; never a secret."""
    with _key_store() as store:
        infos = store.list()
    for info in infos:
        roles = sorted(r.value for r in info.roles)
        if as_json:
            record = {
                "key_id": info.key_id,
                "name": info.name,
                "roles": roles,
                "active": info.active,
                "created_at": info.created_at.isoformat(),
                "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
            }
            _out(json.dumps(record))
        else:
            state = "active" if info.active else "revoked"
            _out(f"{info.key_id}  {state:8} {','.join(roles):28} {info.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id to revoke.")]) -> None:
    """Revoke a key at once, for every gateway process."""
    with _key_store() as store:
        if not store.revoke(key_id):
            raise typer.BadParameter(f"no key with id {key_id!r}", param_hint="KEY_ID")
    _out(f"revoked {key_id}")


AuditDbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The audit trail's SQLite file; default IC_AUDIT_DB."),
]


def _audit_trail(db: Path | None) -> AuditTrail:
    """The trail at ``db`` (or the configured one), which must exist: reading never creates."""
    path = db or get_settings().audit_db
    if not path.is_file():
        raise ConfigurationError(f"{path}: no audit trail there (pass --db or set IC_AUDIT_DB)")
    return AuditTrail(path)


@audit_app.command("verify")
def audit_verify(db: AuditDbOption = None) -> None:
    """Recompute every hash of the chain; exit 1 if an entry was changed, removed or inserted."""
    with _audit_trail(db) as trail:
        report = trail.verify()
        head = trail.after(report.checked - 1, limit=1) if report.ok and report.checked else []
    if not report.ok:
        _out(f"audit trail broken: {report.reason}")
        raise typer.Exit(1)
    _out(f"audit trail ok: {report.checked} {'entry' if report.checked == 1 else 'entries'}")
    for entry in head:
        _out(f"latest: entry {entry.seq}, sha256 {entry.hash} (record it elsewhere as an anchor)")


@audit_app.command("show")
def audit_show(
    db: AuditDbOption = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Only this incident's entries.")
    ] = None,
    after: Annotated[
        int, typer.Option("--after", min=0, help="Start after this sequence number.")
    ] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many entries.")] = 100,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per entry, hashes included.")
    ] = False,
) -> None:
    """Entries in sequence order, oldest first, as a table or as JSON lines."""
    with _audit_trail(db) as trail:
        entries = trail.after(after, limit=limit, incident_id=incident)
    if as_json:
        for entry in entries:
            _out(json.dumps(entry.to_json(), ensure_ascii=False))
    elif entries:
        _out(_audit_table(entries))
    else:
        _out("no audit entries")
    if len(entries) == limit:
        _err(f"(--limit {limit} reached; the next page starts with --after {entries[-1].seq})")


def _audit_table(entries: list[AuditEntry]) -> str:
    header = ("SEQ", "AT (UTC)", "ACTOR", "KIND", "INCIDENT")
    rows = [header]
    rows += [
        (str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.kind, e.incident_id or "-")
        for e in entries
    ]
    data = ["DATA"]
    data += [json.dumps(e.data, ensure_ascii=False, sort_keys=True) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row, text in zip(rows, data, strict=True):
        cells = [row[0].rjust(widths[0])]
        cells += [cell.ljust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([*cells, text if len(text) <= 80 else text[:79] + "…"]))
    return "\n".join(lines)


def _render(result: ScenarioResult, *, as_json: bool, timeline: bool) -> str:
    if as_json:
        exclude = set() if timeline else {"timeline"}
        return result.model_dump_json(exclude=exclude)
    verdict = "PASS" if result.passed else "FAIL"
    ttd = "-" if result.ttd_s is None else f"{result.ttd_s}s"
    ttr = "-" if result.ttr_s is None else f"{result.ttr_s}s"
    executed = ",".join(result.executed) or "-"
    head = (
        f"{verdict} {result.scenario}: detected={result.detected} ttd={ttd} "
        f"executed={executed} recovered={result.recovered} ttr={ttr} "
        f"downtime=${result.downtime_cost_usd:,.0f} ({result.wall_s:.1f}s wall)"
    )
    reasons = "".join(f"\n    - {reason}" for reason in result.failed_expectations)
    return head + reasons


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (IC_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (IC_PORT).")] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Built-in scenario or file to run live (IC_DEMO_SCENARIO).")
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Simulated seconds per wall second (IC_DEMO_SPEED).")
    ] = None,
    estate_file: Annotated[
        Path | None,
        typer.Option(help="Estate file of the real estate to command (IC_ESTATE_FILE)."),
    ] = None,
) -> None:
    """Run the gateway (API, live events, /metrics) and the commander on its estate.

    On embedded defaults the estate is a built-in scenario simulated live on the embedded AWS
    emulator. With an estate file (account or LocalStack mode) it is the real estate the file
    names, checked against AWS before anything starts. When the API key store is empty, a
    first admin key is created and shown once.
    """
    import uvicorn

    from services.gateway.app import create_app, server_options
    from services.tracing import install_log_correlation

    settings = get_settings()
    given = {
        "host": host, "port": port, "demo_scenario": scenario, "demo_speed": speed,
        "estate_file": estate_file,
    }  # fmt: skip
    overrides = {name: value for name, value in given.items() if value is not None}
    if overrides:
        settings = settings.model_validate({**settings.model_dump(), **overrides})
    if settings.estate_file is not None and not settings.cluster:
        _check_estate(settings, settings.estate_file)

    def show_first_key(secret: str) -> None:
        _err(
            "\nNo API keys yet: created a first admin key. It is shown this once; keep it.\n"
            f"  {secret}\n"
            "Use it as `Authorization: Bearer <key>`; create others with "
            "`incident-commander keys create NAME --role ROLE`.\n"
        )

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s trace=%(trace_id)s span=%(span_id)s %(message)s",
    )
    install_log_correlation()  # before any record reaches the format above
    application = create_app(settings, on_first_key=show_first_key)
    if settings.cluster:
        serving = f"gateway of the cluster for estate {settings.estate}"
    elif settings.estate_file is not None:
        serving = f"estate file {settings.estate_file}, {settings.resolved_aws_mode} mode"
    else:
        serving = f"estate: {settings.demo_scenario} at {settings.demo_speed:g}x"
    _err(
        f"incident commander on http://{settings.host}:{settings.port} "
        f"({serving}; API docs at /docs)"
    )
    uvicorn.run(
        application, host=settings.host, port=settings.port, log_level="info",
        **server_options(settings),
    )  # fmt: skip


def _check_estate(settings: Settings, path: Path) -> None:
    """Refuse to start on an estate file that does not check out against AWS: every problem
    is named with the file and the field (exit 2), and nothing is started."""
    spec = load_estate(path)
    if settings.resolved_aws_mode is AwsMode.EMBEDDED:
        raise ConfigurationError(
            f"{path}: an estate file names resources in an account or LocalStack; the embedded "
            "emulator starts empty. Set IC_AWS_MODE=account or localstack"
        )
    with open_aws_port(settings) as aws:
        realise(aws, spec, path)


def main() -> None:
    """Console entry point: commander errors are messages, not tracebacks."""
    try:
        app()
    except CommanderError as exc:
        _err(f"error: {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
