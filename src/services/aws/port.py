"""The AWS port: the one place that builds boto3 clients.

Three endpoints, chosen by settings:

- ``embedded`` (default): moto's server started on loopback by the commander itself;
- ``localstack``: a LocalStack container, endpoints from ``localstack-client``;
- ``account``: a real AWS account through boto3's default credential chain.

Every client carries botocore's own retry mode and timeouts from settings. Nothing else in the
commander constructs a boto3 client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from services.aws.emulator import EmbeddedEmulator
from services.errors import ConfigurationError
from services.settings import AwsMode, Settings

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_sts import STSClient

# Credentials the emulator accepts; never valid anywhere else.
_EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the endpoint implements, where the commander must choose another call."""

    instance_refresh: bool
    """ASG StartInstanceRefresh; without it restarts terminate instances one at a time."""


class AwsPort:
    """boto3 clients for one AWS endpoint, created once each and shared (they are thread-safe)."""

    def __init__(
        self,
        *,
        mode: AwsMode,
        region: str,
        config: Config,
        endpoint_url: str | None = None,
        session: Any = None,
        emulator: EmbeddedEmulator | None = None,
    ) -> None:
        self.mode = mode
        self._emulator = emulator
        self.region = region
        self.endpoint_url = endpoint_url
        self._config = config
        # boto3.Session or localstack-client's Session: both build clients the same way.
        self._session: Any = session if session is not None else boto3.Session(region_name=region)
        self.capabilities = Capabilities(instance_refresh=mode is not AwsMode.EMBEDDED)

    def reset_emulator(self) -> None:
        """Wipe the embedded emulator between independent runs; refused for anything else."""
        if self._emulator is None:
            raise ConfigurationError(f"only the embedded emulator can be reset, not {self.mode}")
        self._emulator.reset()

    def client(self, service: str) -> Any:
        """A new client for ``service``; prefer the typed, cached properties below."""
        kwargs: dict[str, Any] = {"config": self._config, "region_name": self.region}
        if self.mode is AwsMode.EMBEDDED:
            kwargs |= {"endpoint_url": self.endpoint_url, **_EMULATOR_CREDENTIALS}
        return self._session.client(service, **kwargs)

    @cached_property
    def autoscaling(self) -> AutoScalingClient:
        return self.client("autoscaling")  # type: ignore[no-any-return]

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        return self.client("cloudwatch")  # type: ignore[no-any-return]

    @cached_property
    def ec2(self) -> EC2Client:
        return self.client("ec2")  # type: ignore[no-any-return]

    @cached_property
    def ecs(self) -> ECSClient:
        return self.client("ecs")  # type: ignore[no-any-return]

    @cached_property
    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return self.client("elbv2")  # type: ignore[no-any-return]

    @cached_property
    def events(self) -> EventBridgeClient:
        return self.client("events")  # type: ignore[no-any-return]

    @cached_property
    def iam(self) -> IAMClient:
        return self.client("iam")  # type: ignore[no-any-return]

    @cached_property
    def cloudtrail(self) -> Any:
        """CloudTrail (LookupEvents only; no typed stubs are installed for it)."""
        return self.client("cloudtrail")

    @cached_property
    def lambda_(self) -> LambdaClient:
        return self.client("lambda")  # type: ignore[no-any-return]

    @cached_property
    def logs(self) -> CloudWatchLogsClient:
        return self.client("logs")  # type: ignore[no-any-return]

    @cached_property
    def rds(self) -> RDSClient:
        return self.client("rds")  # type: ignore[no-any-return]

    @cached_property
    def tagging(self) -> ResourceGroupsTaggingAPIClient:
        """The Resource Groups Tagging API (``resourcegroupstaggingapi``)."""
        return self.client("resourcegroupstaggingapi")  # type: ignore[no-any-return]

    @cached_property
    def sts(self) -> STSClient:
        return self.client("sts")  # type: ignore[no-any-return]


def botocore_config(settings: Settings) -> Config:
    """Retries through botocore's own retry modes, with connect and read timeouts."""
    return Config(
        region_name=settings.aws_region,
        connect_timeout=settings.aws_connect_timeout_s,
        read_timeout=settings.aws_read_timeout_s,
        # total_max_attempts counts the first try, as AWS_MAX_ATTEMPTS does.
        retries={
            "mode": settings.aws_retry_mode.value,
            "total_max_attempts": settings.aws_max_attempts,
        },
        max_pool_connections=32,
    )


@contextmanager
def open_aws_port(settings: Settings) -> Iterator[AwsPort]:
    """The AWS port that ``settings`` ask for; starts and stops the embedded emulator if used."""
    config = botocore_config(settings)
    mode = settings.resolved_aws_mode
    if mode is AwsMode.EMBEDDED:
        with EmbeddedEmulator(settings.emulator_host, settings.emulator_port) as emulator:
            yield AwsPort(
                mode=mode,
                region=settings.aws_region,
                config=config,
                endpoint_url=emulator.url,
                emulator=emulator,
            )
        return
    if mode is AwsMode.LOCALSTACK:
        if not settings.localstack_url:
            raise ConfigurationError("IC_AWS_MODE=localstack needs IC_LOCALSTACK_URL")
        from localstack_client.session import Session as LocalStackSession

        parts = urlsplit(settings.localstack_url)
        if not parts.hostname:
            raise ConfigurationError(f"IC_LOCALSTACK_URL={settings.localstack_url!r} has no host")
        session = LocalStackSession(
            region_name=settings.aws_region,
            localstack_host=f"{parts.hostname}:{parts.port or 4566}",
        )
        yield AwsPort(
            mode=mode,
            region=settings.aws_region,
            config=config,
            endpoint_url=settings.localstack_url,
            session=session,
        )
        return
    session = boto3.Session(profile_name=settings.aws_profile, region_name=settings.aws_region)
    yield AwsPort(mode=mode, region=settings.aws_region, config=config, session=session)
