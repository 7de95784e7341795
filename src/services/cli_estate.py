"""``incident-commander estate``: draft an estate file from an account's tags (``discover``),
check one (``validate``, with ``--check-aws`` against the configured AWS endpoint), and print
the format's JSON Schema (``schema``). docs/estate.md describes the format and the tags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.aws.port import open_aws_port
from services.errors import ConfigurationError
from services.estate.discover import discover
from services.estate.load import load_estate
from services.estate.model import json_schema
from services.estate.realise import realise
from services.scenario.model import parse_duration
from services.settings import AwsMode, get_settings

estate_app = typer.Typer(
    help="Estate files: draft one from an account's tags, validate one, print the schema.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(estate_app, name="estate")


@estate_app.command("discover")
def discover_estate(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the file here (default: stdout).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The estate's name (IC_ESTATE).")] = None,
    period: Annotated[
        str, typer.Option(help="How often metrics are read and the clock steps.")
    ] = "60s",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out.")] = False,
) -> None:
    """Draft an estate file from the resources tagged incident-commander:service in the
    configured AWS endpoint and region, for a person to review before it is used."""
    try:
        period_s = parse_duration(period)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from exc
    if out is not None and out.exists() and not force:
        raise ConfigurationError(f"{out} exists: review or move it, or pass --force")
    settings = get_settings()
    with open_aws_port(settings) as port:
        found = discover(port, name=name or settings.estate, period_s=period_s)
    services = ", ".join(f"{n} ({s.kind.value})" for n, s in found.estate.services.items())
    review = f"{found.notes} REVIEW comment{'s' if found.notes != 1 else ''}"
    if out is None:
        typer.echo(found.text, nl=False)
        typer.echo(f"discovered {services}; {review}", err=True)
        return
    out.write_text(found.text, encoding="utf-8")
    typer.echo(f"{out}: discovered {services}; {review}; review it before use", err=True)


@estate_app.command("validate")
def validate_estate(
    path: Annotated[Path, typer.Argument(help="The estate file.")],
    check_aws: Annotated[
        bool,
        typer.Option(
            "--check-aws", help="Also look every resource up in the configured AWS endpoint."
        ),
    ] = False,
) -> None:
    """Check an estate file: the format, its dependencies and routes; with --check-aws, that
    every resource it names exists."""
    spec = load_estate(path)
    head = f"{path}: valid ({spec.name}, {len(spec.services)} services)"
    if not check_aws:
        typer.echo(head)
        return
    settings = get_settings()
    if settings.resolved_aws_mode is AwsMode.EMBEDDED:
        raise ConfigurationError(
            f"{path}: --check-aws looks the resources up in an account or LocalStack; the "
            "embedded emulator starts empty. Set IC_AWS_MODE=account or localstack"
        )
    if spec.region:
        settings = settings.model_copy(update={"aws_region": spec.region})
    with open_aws_port(settings) as port:
        realised = realise(port, spec, path)
    alarms = sum(len(r.alarms) for r in realised.estate.services.values())
    typer.echo(
        f"{head}; every resource found ({settings.resolved_aws_mode}, {settings.aws_region}), "
        f"{alarms} alarm{'s' if alarms != 1 else ''} on their metrics"
    )


@estate_app.command("schema")
def estate_schema() -> None:
    """Print the JSON Schema of estate files (docs/estate.schema.json)."""
    typer.echo(json_schema(), nl=False)
