"""``incident-commander estate`` as a user runs it (the console entry point, in a process of its
own): discover writes a file that validates against the account, bad files exit 2 naming the
file and the field, and the published schema is the one the command prints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from estatekit import ForeignEstate
from services.cli import app
from services.estate.load import load_estate

SCHEMA = Path(__file__).parents[3] / "docs" / "estate.schema.json"


def _cli(cwd: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IC_", "AWS_"))}
    if url is not None:
        env |= {"IC_AWS_MODE": "localstack", "IC_LOCALSTACK_URL": url, "IC_AWS_REGION": "us-east-1"}
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", "estate", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=cwd, env=env,
    )  # fmt: skip


def test_discover_writes_a_file_that_validates_against_the_account(
    foreign: ForeignEstate, tmp_path: Path
) -> None:
    out = tmp_path / "estate.yaml"
    done = _cli(tmp_path, "discover", "--out", str(out), "--name", "shop", "--period", "2m",
                url=foreign.endpoint_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "checkout (ecs-service), orders-db (rds), resize (lambda), web (asg)" in done.stderr
    spec = load_estate(out)
    assert (spec.name, spec.period) == ("shop", 120)
    assert spec.services["orders-db"].protected

    checked = _cli(tmp_path, "validate", str(out), "--check-aws", url=foreign.endpoint_url)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == (
        f"{out}: valid (shop, 4 services); every resource found (localstack, us-east-1), "
        "2 alarms on their metrics"
    )

    again = _cli(tmp_path, "discover", "--out", str(out), url=foreign.endpoint_url)
    assert again.returncode == 2
    assert f"{out} exists: review or move it, or pass --force" in again.stderr


def test_discover_without_out_prints_the_file(foreign: ForeignEstate, tmp_path: Path) -> None:
    done = _cli(tmp_path, "discover", url=foreign.endpoint_url)
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(done.stdout)
    assert document["name"] == "demo"  # IC_ESTATE's default
    assert sorted(document["services"]) == ["checkout", "orders-db", "resize", "web"]


BAD = {
    "unknown-key": (
        """
        services:
          orders:
            kind: rds
            tier: critical
            resources: {db_instance: orders-db, db_instanse: orders-db}
        """,
        "services.orders.resources.db_instanse: unknown key",
    ),
    "cycle": (
        """
        services:
          a: {kind: rds, depends_on: [b], resources: {db_instance: orders-db}}
          b: {kind: rds, depends_on: [a], resources: {db_instance: orders-db}}
        """,
        "services.a.depends_on: dependency cycle: a -> b -> a",
    ),
    "overlap": (
        """
        services:
          a:
            kind: rds
            resources: {db_instance: orders-db}
            routes: [{labels: {team: "pay*"}}]
          b:
            kind: lambda
            resources: {function: resize}
            routes: [{labels: {team: "*ments"}}]
        """,
        "services.a.routes[0]: overlaps ",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_validate_refuses_a_bad_file_naming_the_file_and_the_field(
    case: str, tmp_path: Path
) -> None:
    body, expected = BAD[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text("version: 1\nname: bad\n" + textwrap.dedent(body))
    done = _cli(tmp_path, "validate", str(path))
    assert done.returncode == 2
    assert f"{path}: {expected}" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_check_aws_names_each_resource_the_account_does_not_have(
    foreign: ForeignEstate, tmp_path: Path
) -> None:
    path = tmp_path / "estate.yaml"
    path.write_text(
        textwrap.dedent(
            """
            version: 1
            name: shop
            region: us-east-1
            services:
              orders:
                kind: rds
                resources: {db_instance: orders-db-old}
              resize:
                kind: lambda
                resources: {function: resize, alias: canary}
            """
        )
    )
    assert _cli(tmp_path, "validate", str(path)).returncode == 0  # the file itself is fine
    embedded = _cli(tmp_path, "validate", str(path), "--check-aws")
    assert embedded.returncode == 2
    assert "the embedded emulator starts empty" in embedded.stderr
    done = _cli(tmp_path, "validate", str(path), "--check-aws", url=foreign.endpoint_url)
    assert done.returncode == 2
    assert f"{path}: 2 problems in estate file" in done.stderr
    assert (
        f"{path}: services.orders.resources.db_instance: no RDS instance 'orders-db-old'"
        in done.stderr
    )
    assert (
        f"{path}: services.resize.resources.alias: function 'resize' has no alias 'canary'"
        in done.stderr
    )


def test_the_published_schema_is_the_one_the_command_prints() -> None:
    printed = CliRunner().invoke(app, ["estate", "schema"])
    assert printed.exit_code == 0
    assert printed.stdout == SCHEMA.read_text(), (
        "docs/estate.schema.json is stale: incident-commander estate schema > "
        "docs/estate.schema.json"
    )
