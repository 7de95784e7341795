"""docs/estate.md describes every key of the format, and its example is a valid file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from services.estate.load import parse_estate
from services.estate.model import Capacity, EstateFile, Matcher, Resources, ServiceSpec, Slo

DOC = (Path(__file__).parents[3] / "docs" / "estate.md").read_text()


@pytest.mark.parametrize(
    ("model", "prefix"),
    [
        (EstateFile, ""),
        (ServiceSpec, ""),
        (Resources, ""),
        (Matcher, ""),
        (Slo, "slo."),
        (Capacity, "capacity."),
    ],
)
def test_every_key_is_documented(model: type[BaseModel], prefix: str) -> None:
    missing = [key for key in model.model_fields if f"`{prefix}{key}`" not in DOC]
    assert missing == []


def test_the_example_is_a_valid_file_with_one_service_of_each_kind() -> None:
    [example] = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
        if block.startswith("version: 1")
    ]
    estate = parse_estate(example, "docs/estate.md")
    assert sorted(s.kind.value for s in estate.services.values()) == [
        "asg", "ecs-service", "lambda", "rds",
    ]  # fmt: skip
