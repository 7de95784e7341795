"""Rate limits: one budget per principal, shared by every gateway when the storage is Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from conftest import skip_or_fail
from services.errors import ConfigurationError, RateLimitedError
from services.gateway.throttle import Throttle

REDIS = "redis://127.0.0.1:6379/15"


def _throttle(storage: str, calls: str = "3/minute") -> Throttle:
    return Throttle(calls=calls, ingest="5/minute", auth_failures="2/minute", storage=storage)


def test_a_principal_over_its_budget_is_told_when_to_come_back() -> None:
    throttle = _throttle("memory://")
    for _ in range(3):
        throttle.call("alice", ingest=False)
    with pytest.raises(RateLimitedError) as refused:
        throttle.call("alice", ingest=False)
    assert 1 <= refused.value.retry_after <= 60
    throttle.call("bob", ingest=False)  # budgets are per principal
    for _ in range(5):
        throttle.call("alice", ingest=True)  # and ingest has its own


def test_gateways_sharing_redis_share_one_budget() -> None:
    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"no Redis at {REDIS}: {exc}")
    first, second = _throttle(REDIS), _throttle(REDIS)
    subject = f"principal-{uuid.uuid4().hex}"
    first.call(subject, ingest=False)
    second.call(subject, ingest=False)
    first.call(subject, ingest=False)
    with pytest.raises(RateLimitedError):
        second.call(subject, ingest=False)
    address = f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    first.failed(address)
    second.failed(address)
    with pytest.raises(RateLimitedError):
        first.failed(address)


@pytest.mark.parametrize(
    ("calls", "storage"), [("lots", "memory://"), ("3/minute", "nosuch://here")]
)
def test_bad_settings_are_a_configuration_error(calls: str, storage: str) -> None:
    with pytest.raises(ConfigurationError):
        _throttle(storage, calls)


def test_failures_past_the_budget_are_refused_with_retry_after() -> None:
    throttle = _throttle("memory://")
    throttle.failed("203.0.113.7")
    throttle.failed("203.0.113.7")
    with pytest.raises(RateLimitedError) as refused:
        throttle.failed("203.0.113.7")
    assert 1 <= refused.value.retry_after <= 60
    throttle.failed("203.0.113.8")  # budgets are per address
