"""Shared test plumbing.

Tests that need something from outside the repository (the shared spec, a service) call
``skip_or_fail``: on a developer's machine the test is skipped with the reason; in CI
(``CI=true``) a missing dependency is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from services.aws.port import AwsPort, open_aws_port
from services.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true and a test dependency is missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def aws() -> Iterator[AwsPort]:
    """The embedded AWS emulator on loopback, real boto3 over HTTP, shared by the session.

    Every simulation names its resources with its own run prefix, so tests sharing the
    emulator never see each other's resources.
    """
    with open_aws_port(Settings(_env_file=None, aws_mode="embedded")) as port:  # type: ignore[call-arg]
        yield port
