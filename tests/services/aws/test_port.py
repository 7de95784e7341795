"""The AWS port: which endpoint each setting reaches, and how its clients are configured."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.aws.port import AwsPort, botocore_config, open_aws_port
from services.errors import ConfigurationError
from services.settings import AwsMode, RetryMode, Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_embedded_is_the_default_and_serves_real_aws_calls_on_loopback() -> None:
    settings = _settings()
    assert settings.resolved_aws_mode is AwsMode.EMBEDDED

    with open_aws_port(settings) as port:
        assert port.endpoint_url is not None
        assert port.endpoint_url.startswith("http://127.0.0.1:")
        identity = port.sts.get_caller_identity()
        assert identity["Account"].isdigit()
        port.logs.create_log_group(logGroupName="/port-test")
        groups = port.logs.describe_log_groups(logGroupNamePrefix="/port-test")["logGroups"]
        assert [g["logGroupName"] for g in groups] == ["/port-test"]


def test_the_emulator_stops_when_the_port_closes() -> None:
    with open_aws_port(_settings()) as port:
        client = port.sts
    with pytest.raises(Exception, match=r"Could not connect|Connection"):
        client.get_caller_identity()


def test_localstack_url_selects_localstack_with_endpoints_from_localstack_client() -> None:
    settings = _settings(localstack_url="http://localstack.internal:4599")
    assert settings.resolved_aws_mode is AwsMode.LOCALSTACK

    with open_aws_port(settings) as port:
        client = port.ecs
        assert client.meta.endpoint_url == "http://localstack.internal:4599"
        assert port.capabilities.instance_refresh


def test_localstack_mode_without_url_is_a_configuration_error() -> None:
    with (
        pytest.raises(ConfigurationError, match="IC_LOCALSTACK_URL"),
        open_aws_port(_settings(aws_mode="localstack")),
    ):
        pass


def test_account_mode_uses_the_default_chain_with_no_endpoint_override() -> None:
    with open_aws_port(_settings(aws_mode="account", aws_region="eu-west-1")) as port:
        client = port.rds
        assert client.meta.region_name == "eu-west-1"
        assert "amazonaws.com" in client.meta.endpoint_url


def test_clients_carry_retry_mode_and_timeouts_from_settings() -> None:
    settings = _settings(
        aws_retry_mode="adaptive",
        aws_max_attempts=7,
        aws_connect_timeout_s=1.5,
        aws_read_timeout_s=9,
    )
    config = botocore_config(settings)
    port = AwsPort(mode=AwsMode.ACCOUNT, region="us-east-1", config=config)
    client = port.cloudwatch

    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}
    assert client.meta.config.connect_timeout == 1.5
    assert client.meta.config.read_timeout == 9
    assert settings.aws_retry_mode is RetryMode.ADAPTIVE


def test_the_emulator_refuses_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValidationError, match="loopback"):
        _settings(emulator_host="0.0.0.0")


def test_rds_reboots_are_recorded_as_rds_does(aws: AwsPort) -> None:
    aws.rds.create_db_instance(
        DBInstanceIdentifier="port-reboot-test",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="u",
        MasterUserPassword="password-123",
    )
    aws.rds.reboot_db_instance(DBInstanceIdentifier="port-reboot-test")
    aws.rds.reboot_db_instance(DBInstanceIdentifier="port-reboot-test", ForceFailover=True)

    events = aws.rds.describe_events(SourceIdentifier="port-reboot-test", SourceType="db-instance")[
        "Events"
    ]
    messages = [e["Message"] for e in events]
    assert messages[-2:] == ["DB instance restarted", "Multi-AZ instance failover completed"]
