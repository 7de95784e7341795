"""Whose address is counted: ``X-Forwarded-For`` is believed only from the proxies
``IC_FORWARDED_ALLOW_IPS`` names, with the uvicorn options ``serve`` uses. uvicorn alone would
believe it from loopback, so a client there could spread its failed authentications over
made-up addresses and never reach the limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gatewaykit import gateway_settings, running_gateway, served
from services.aws.port import AwsPort
from services.gateway.app import server_options

GUESS = {"Authorization": f"Bearer ic_{'0' * 16}_{'A' * 43}"}


def _statuses(tmp_path: Path, aws: AwsPort, allow: list[str]) -> list[int]:
    """Four bad keys, each claiming another forwarded address; the limit is three."""
    with running_gateway(
        tmp_path, aws, auth_failure_limit="3/minute", forwarded_allow_ips=allow
    ) as running, served(running.app, **server_options(running.settings)) as base:  # fmt: skip
        statuses = []
        for n in range(4):
            headers = {**GUESS, "X-Forwarded-For": f"198.51.100.{n}"}
            statuses.append(httpx.get(f"{base}/v1/incidents", headers=headers).status_code)
        return statuses


def test_by_default_a_forwarded_address_is_not_believed(tmp_path: Path, aws: AwsPort) -> None:
    assert _statuses(tmp_path, aws, []) == [401, 401, 401, 429]


@pytest.mark.parametrize("allow", [["127.0.0.1"], ["127.0.0.0/8"]])
def test_a_configured_proxy_is_believed(tmp_path: Path, aws: AwsPort, allow: list[str]) -> None:
    assert _statuses(tmp_path, aws, allow) == [401, 401, 401, 401]


def test_server_options_turn_proxy_headers_off_without_trusted_proxies() -> None:
    assert server_options(gateway_settings(Path("unused"))) == {"proxy_headers": False}
