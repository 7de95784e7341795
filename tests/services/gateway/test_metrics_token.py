"""``IC_METRICS_TOKEN``: a scrape credential for Prometheus that opens ``GET /metrics`` and
nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatewaykit import Running, running_gateway
from services.aws.port import AwsPort

TOKEN = "scrape-7f3c9a1e5b2d4c6e8a0f"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, aws: AwsPort) -> Iterator[Running]:
    with running_gateway(
        Path(tmp_path_factory.mktemp("metrics-token")), aws, metrics_token=TOKEN
    ) as running:
        yield running


def test_the_metrics_token_opens_the_metrics(gateway: Running) -> None:
    response = gateway.client.get("/metrics", headers=bearer(TOKEN))

    assert response.status_code == 200
    assert "ic_http_requests_total" in response.text


def test_the_metrics_token_is_taken_whatever_the_case_of_its_scheme(gateway: Running) -> None:
    response = gateway.client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/incidents"),
        ("GET", "/v1/me"),
        ("GET", "/v1/keys"),
        ("GET", "/v1/audit"),
        ("POST", "/v1/incidents/inc-1/ack"),
    ],
)
def test_the_metrics_token_opens_nothing_else(gateway: Running, method: str, path: str) -> None:
    response = gateway.client.request(method, path, headers=bearer(TOKEN))

    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        bearer(TOKEN + "x"),
        bearer(TOKEN[:-1]),
        bearer(""),
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-API-Key": TOKEN},
    ],
    ids=["longer", "shorter", "empty", "no scheme", "basic", "as api key"],
)
def test_anything_but_the_metrics_token_as_a_bearer_is_refused(
    gateway: Running, headers: dict[str, str]
) -> None:
    response = gateway.client.get("/metrics", headers=headers)

    assert response.status_code == 401


def test_a_viewers_key_still_reads_the_metrics(gateway: Running) -> None:
    assert gateway.client.get("/metrics", headers=gateway.auth("viewer")).status_code == 200
