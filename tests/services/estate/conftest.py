"""A foreign estate on a moto server of the module's own (a separate process), built once per
module with plain boto3: what ``estate discover`` and ``realise`` meet in a user's account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from estatekit import ForeignEstate, build_foreign_estate, moto_server

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """The URL of a moto server process on loopback, stopped after the module."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def foreign(moto_url: str) -> ForeignEstate:
    """The kit's foreign estate in ``REGION`` of the module's moto server."""
    return build_foreign_estate(moto_url, REGION)
