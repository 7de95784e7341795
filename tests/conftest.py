"""Shared test plumbing.

Tests that need something from outside the repository (the shared spec, a service) call
``skip_or_fail``: on a developer's machine the test is skipped with the reason; in CI
(``CI=true``) a missing dependency is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from services.aws.port import AwsPort, open_aws_port
from services.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true and a test dependency is missing: {reason}", pytrace=False)
    pytest.skip(reason)


ONE_AT_A_TIME = (
    "cluster/",
    "services/estate/test_cluster_watch.py",
    "services/test_serve_restarts.py",
)
"""Tests (under ``tests/``) that run whole clusters or restart servers against simulated clocks:
five or more processes each, timed against the world's pace. Under pytest-xdist they share one
worker and run one after another, never two at once on a two-core machine."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for ``--dist loadgroup``: the tests of a file stay together (their module fixtures
    start once), and the ``ONE_AT_A_TIME`` files form one group of their own."""
    root = Path(__file__).parent
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        where = item.path.relative_to(root).as_posix()
        group = "one-at-a-time" if where.startswith(ONE_AT_A_TIME) else where
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def aws() -> Iterator[AwsPort]:
    """The embedded AWS emulator on loopback, real boto3 over HTTP, shared by the session.

    Every simulation names its resources with its own run prefix, so tests sharing the
    emulator never see each other's resources.
    """
    with open_aws_port(Settings(_env_file=None, aws_mode="embedded")) as port:  # type: ignore[call-arg]
        yield port
