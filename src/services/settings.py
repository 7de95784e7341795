"""The commander's one settings object.

Every setting comes from the environment (prefix ``IC_``) or a ``.env`` file and is validated
once, here. No other module reads ``os.environ``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AwsMode(StrEnum):
    """Where AWS calls go."""

    EMBEDDED = "embedded"
    """moto's ThreadedMotoServer, started on loopback by the commander itself."""
    LOCALSTACK = "localstack"
    """A LocalStack container reached through ``localstack-client``."""
    ACCOUNT = "account"
    """A real AWS account through the default credential chain."""


class RetryMode(StrEnum):
    """botocore's own retry modes."""

    LEGACY = "legacy"
    STANDARD = "standard"
    ADAPTIVE = "adaptive"


class Settings(BaseSettings):
    """Validated configuration for every part of the commander."""

    model_config = SettingsConfigDict(
        env_prefix="IC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    environment: str = Field(default="development", pattern=r"^(development|test|production)$")

    aws_mode: AwsMode | None = Field(
        default=None,
        description=(
            "embedded, localstack or account. Unset: localstack when IC_LOCALSTACK_URL is set, "
            "otherwise the embedded emulator."
        ),
    )
    aws_region: str = "us-east-1"
    aws_profile: str | None = None
    localstack_url: str | None = Field(
        default=None, description="LocalStack edge endpoint, e.g. http://localhost:4566"
    )
    aws_connect_timeout_s: float = Field(default=5.0, gt=0)
    aws_read_timeout_s: float = Field(default=30.0, gt=0)
    aws_max_attempts: int = Field(
        default=5, ge=1, le=20, description="attempts in all, first included"
    )
    aws_retry_mode: RetryMode = RetryMode.STANDARD

    emulator_host: str = Field(default="127.0.0.1", description="loopback only by design")
    emulator_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")

    state_dir: Path = Field(
        default=Path(".incident-commander/state"),
        description=(
            "Folder of serve's durable state in one process (incidents, accepted alerts, "
            "checkpoints, action ledger, change history, model spend; docs in "
            "orchestrator/state_dir.py). `scenario run` keeps a run's files here only when it "
            "is set; unset, a temporary folder per run"
        ),
    )
    api_keys_db: Path = Field(
        default=Path(".incident-commander/api-keys.sqlite"),
        description="SQLite file of the gateway's API keys (hashed; never the secrets)",
    )
    postgres_url: SecretStr | None = Field(
        default=None,
        description="postgresql://... : LangGraph checkpoints in Postgres instead of SQLite",
    )

    audit_db: Path = Field(
        default=Path(".incident-commander/audit.sqlite"),
        description="SQLite file of the append-only, hash-chained audit trail",
    )

    # -- scale-out (issue 6): set both URLs and gateways, workers and the world share them ----
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://... : with IC_POSTGRES_URL, the cluster (alert stream, event "
        "fan-out, action locks); unset: one process",
    )
    postgres_schema: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="the Postgres schema of the cluster's tables (unset: the server's default)",
    )
    estate: str = Field(
        default="demo",
        pattern=r"^[a-z0-9][a-z0-9-]{0,40}$",
        description="the estate a cluster's gateways, workers and world serve",
    )
    lease_ttl_s: float = Field(
        default=10.0, ge=1, le=300, description="a dead worker's estate is taken over after this"
    )
    worker_stall_s: float = Field(
        default=120.0,
        ge=1,
        le=3600,
        description="readiness fails when the commanding worker has finished no turn for this long",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1", description="where `worker` serves its Prometheus metrics"
    )
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="a bearer token accepted on GET /metrics only (for Prometheus scrapes)",
    )

    # -- the gateway ---------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="address `serve` listens on")
    port: int = Field(default=8080, ge=0, le=65535)
    jwt_issuer: str | None = Field(default=None, description="accept JWTs from this issuer")
    jwt_audience: str | None = Field(default=None, description="the audience JWTs must name")
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 shared secret (at least 32 bytes); or IC_JWT_JWKS_URL"
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="an OIDC provider's JWKS URL (RS256/ES256 tokens)"
    )
    jwt_roles_claim: str = Field(default="roles", min_length=1)
    rate_limit: str = Field(
        default="600/minute",
        description="per principal, on every route but ingest (the `limits` notation)",
    )
    ingest_rate_limit: str = Field(default="6000/minute", description="per ingest principal")
    auth_failure_limit: str = Field(
        default="30/minute", description="failed authentications per client address"
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="`limits` storage URI: memory:// (one process) or redis://host:6379/0",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="request body limit")
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description=(
            "proxies whose X-Forwarded-For/-Proto `serve` believes (addresses or networks, or "
            '"*"); none: every client is its socket\'s address'
        ),
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="origins allowed to call the API from a browser (none: same origin only)",
    )
    ingest_queue_max: int = Field(
        default=100_000, ge=1, description="alerts queued for the commander before ingest is 503"
    )
    approval_ttl_s: int = Field(
        default=900, ge=30, description="seconds an approval request stays open, then expires"
    )
    sns_confirm: bool = Field(
        default=True, description="confirm SNS subscriptions by fetching their SubscribeURL"
    )
    sns_verify_signatures: bool = Field(
        default=True,
        description="verify SNS message signatures with the signing certificate SNS names",
    )
    tracing: bool = Field(
        default=True,
        description="OpenTelemetry spans per request, graph node, agent and AWS call",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint (http://collector:4318/v1/traces); unset: none",
    )
    estate_file: Path | None = Field(
        default=None,
        description="an estate file (docs/estate.md) naming the real estate `serve`, `worker` "
        "and `watch` command, in account or LocalStack mode; unset: the simulated demo estate",
    )
    demo_scenario: str = Field(
        default="checkout-bad-deploy",
        description="the built-in scenario `serve` runs live as its estate on embedded defaults",
    )
    demo_speed: float = Field(
        default=30.0, gt=0, le=3600, description="simulated seconds per wall second in `serve`"
    )

    consensus_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "detection": 1.0,
            "diagnosis": 1.5,
            "remediation": 1.0,
            "finops": 0.75,
            "security": 1.5,
        },
        description="Vote weight by agent, as JSON: IC_CONSENSUS_WEIGHTS='{\"security\": 2}'",
    )
    consensus_quorum: int = Field(default=3, ge=2, le=5)
    consensus_auto_threshold: float = Field(default=0.5, ge=0, le=1)
    consensus_approval_threshold: float = Field(default=0.15, ge=0, le=1)
    max_rounds: int = Field(default=3, ge=1, le=10, description="remediation rounds, then escalate")
    verify_steps: int = Field(default=3, ge=1, le=30, description="steps to wait before verifying")
    monthly_budget_usd: float = Field(default=50_000.0, ge=0)
    change_freeze: list[str] = Field(
        default_factory=list,
        description=(
            "Change-freeze windows as ISO 8601 intervals, start/end, e.g. "
            '["2026-12-20T00:00:00Z/2027-01-04T00:00:00Z"]: only containment runs in them'
        ),
    )

    # -- optional LLM reasoning (services/llm) -------------------------------------------------
    llm_provider: Literal["none", "bedrock"] = Field(
        default="none",
        description="none: rule-based agents only; bedrock: the diagnosis agent also asks a model",
    )
    llm_small_model: str = Field(
        default="us.anthropic.claude-haiku-4-5-20251001-v1:0",
        min_length=1,
        description="Bedrock model id for simple incidents",
    )
    llm_large_model: str = Field(
        default="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        min_length=1,
        description="Bedrock model id for complex incidents",
    )
    llm_endpoint_url: str | None = Field(
        default=None, description="Bedrock runtime endpoint; unset: the region's own"
    )
    llm_region: str | None = Field(default=None, description="unset: IC_AWS_REGION")
    llm_timeout_s: float = Field(default=20.0, gt=0, le=300, description="per model request")
    llm_max_attempts: int = Field(
        default=3, ge=1, le=10, description="attempts on throttling, first included"
    )
    llm_retry_backoff_s: float = Field(
        default=1.0, ge=0, le=60, description="first backoff on throttling, doubled each time"
    )
    llm_daily_budget_usd: float = Field(default=20.0, ge=0)
    llm_monthly_budget_usd: float = Field(default=300.0, ge=0)
    llm_breaker_failures: int = Field(
        default=5, ge=1, le=100, description="consecutive failures that open the breaker"
    )
    llm_breaker_reset_s: float = Field(
        default=60.0, gt=0, le=3600, description="seconds the breaker stays open"
    )
    llm_small_input_usd_per_1k: float = Field(default=0.001, ge=0)
    llm_small_output_usd_per_1k: float = Field(default=0.005, ge=0)
    llm_large_input_usd_per_1k: float = Field(default=0.003, ge=0)
    llm_large_output_usd_per_1k: float = Field(default=0.015, ge=0)

    # -- paging and chat (issue 14; services/notify, docs/notifications.md) --------------------
    notify_cursor_file: Path = Field(
        default=Path(".incident-commander/notify-cursor.json"),
        description="where the notifier keeps the seq of the last audit entry it has handled",
    )
    public_url: str | None = Field(
        default=None,
        description="the gateway's address as people reach it (links in pages and messages)",
    )
    notify_timeout_s: float = Field(default=10.0, gt=0, le=120, description="per HTTP request")
    notify_max_attempts: int = Field(
        default=5, ge=1, le=20, description="attempts per notification, first included"
    )
    notify_backoff_s: float = Field(
        default=1.0, ge=0, le=60, description="first backoff between attempts, doubled each time"
    )
    notify_max_backoff_s: float = Field(
        default=60.0, ge=0, le=3600, description="longest wait between attempts (Retry-After too)"
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="the PagerDuty Events API v2 endpoint",
    )
    pagerduty_routing_keys: SecretStr | None = Field(
        default=None,
        description="escalation target=routing key pairs, comma-separated: an estate's "
        "`escalation: pagerduty:payments-oncall` pages the key of payments-oncall",
    )
    pagerduty_default_routing_key: SecretStr | None = Field(
        default=None, description="paged for incidents whose services name no known target"
    )
    pagerduty_min_severity: str = Field(
        default="sev2",
        pattern=r"^sev[1-4]$",
        description="page for this severity and worse (sev1 is the worst); unknown pages",
    )
    pagerduty_rate_limit: str = Field(
        default="120/minute", description="events per routing key (PagerDuty's own limit)"
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="a Slack incoming webhook: plain messages, no buttons"
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="a Slack app's bot token (xoxb-...): approval messages"
    )
    slack_channel: str | None = Field(
        default=None, description="the channel the Slack app posts approval requests to"
    )
    slack_owner_channels: str = Field(
        default="",
        description="estate owner=Slack channel pairs, comma-separated (payments=C0PAYMENTS): "
        "approval requests go to the channels of the owners of the incident's services, else "
        "to IC_SLACK_CHANNEL",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="the Slack app's signing secret: verifies button clicks"
    )
    slack_approvers: str = Field(
        default="",
        description="Slack user id=principal pairs, comma-separated (U123=alice); a principal "
        "holds the approver role unless named with another (U456=bob:responder)",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api", description="the Slack Web API (chat.postMessage)"
    )
    slack_rate_limit: str = Field(
        default="1/second", description="messages per Slack channel (Slack's own limit)"
    )
    teams_webhook_url: SecretStr | None = Field(
        default=None, description="a Microsoft Teams workflow webhook (Adaptive Cards)"
    )
    teams_rate_limit: str = Field(default="4/second")
    webhook_url: str | None = Field(
        default=None, description="a generic webhook: every notification, signed (HMAC-SHA256)"
    )
    webhook_secret: SecretStr | None = Field(
        default=None, min_length=32, description="the generic webhook's signing secret"
    )
    webhook_rate_limit: str = Field(default="10/second")

    scenario_library: Path | None = Field(
        default=None,
        description="Extra folder of scenario files listed beside the built-in library.",
    )

    @model_validator(mode="after")
    def _emulator_stays_on_loopback(self) -> Settings:
        if not self.emulator_host.startswith("127.") and self.emulator_host not in {
            "localhost",
            "::1",
        }:
            raise ValueError(
                f"IC_EMULATOR_HOST={self.emulator_host!r}: the embedded emulator accepts any "
                "credentials, so it only listens on loopback"
            )
        return self

    @model_validator(mode="after")
    def _policy_is_coherent(self) -> Settings:
        unknown = set(self.consensus_weights) - {
            "detection", "diagnosis", "remediation", "finops", "security"
        }  # fmt: skip
        if unknown:
            raise ValueError(f"IC_CONSENSUS_WEIGHTS: unknown agents {sorted(unknown)}")
        if self.consensus_approval_threshold > self.consensus_auto_threshold:
            raise ValueError("the approval threshold cannot exceed the auto threshold")
        for window in self.change_freeze:
            freeze_window(window)
        return self

    @model_validator(mode="after")
    def _jwt_is_coherent(self) -> Settings:
        if self.jwt_secret is not None and self.jwt_jwks_url:
            raise ValueError("set IC_JWT_SECRET or IC_JWT_JWKS_URL, not both")
        if (self.jwt_secret is not None or self.jwt_jwks_url) and not (
            self.jwt_issuer and self.jwt_audience
        ):
            raise ValueError("JWTs need IC_JWT_ISSUER and IC_JWT_AUDIENCE to check")
        return self

    @model_validator(mode="after")
    def _llm_is_coherent(self) -> Settings:
        if self.llm_daily_budget_usd > self.llm_monthly_budget_usd:
            raise ValueError("IC_LLM_DAILY_BUDGET_USD cannot exceed IC_LLM_MONTHLY_BUDGET_USD")
        if self.llm_endpoint_url is not None and not self.llm_endpoint_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"IC_LLM_ENDPOINT_URL={self.llm_endpoint_url!r}: not an http(s) URL")
        return self

    @model_validator(mode="after")
    def _cluster_is_coherent(self) -> Settings:
        if self.redis_url is not None and self.postgres_url is None:
            raise ValueError("IC_REDIS_URL selects the cluster, which needs IC_POSTGRES_URL too")
        return self

    @model_validator(mode="after")
    def _notify_is_coherent(self) -> Settings:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("IC_WEBHOOK_URL needs IC_WEBHOOK_SECRET to sign what it sends")
        if self.slack_bot_token is not None and not self.slack_channel:
            raise ValueError("IC_SLACK_BOT_TOKEN needs IC_SLACK_CHANNEL to post to")
        if self.slack_approvers and self.slack_signing_secret is None:
            raise ValueError("IC_SLACK_APPROVERS needs IC_SLACK_SIGNING_SECRET to verify clicks")
        keys = self.pagerduty_routing_keys
        pairs(keys.get_secret_value() if keys else "", "IC_PAGERDUTY_ROUTING_KEYS")
        self.slack_approver_map  # noqa: B018 (parses, raising on a malformed list)
        self.slack_owner_channel_map  # noqa: B018
        return self

    @property
    def pagerduty_routing_map(self) -> dict[str, str]:
        """Escalation target -> PagerDuty routing key."""
        keys = self.pagerduty_routing_keys
        return pairs(keys.get_secret_value() if keys else "", "IC_PAGERDUTY_ROUTING_KEYS")

    @property
    def slack_owner_channel_map(self) -> dict[str, str]:
        """Estate owner -> the Slack channel its approval requests go to."""
        return pairs(self.slack_owner_channels, "IC_SLACK_OWNER_CHANNELS")

    @property
    def slack_approver_map(self) -> dict[str, tuple[str, str]]:
        """Slack user id -> (principal, role)."""
        mapped: dict[str, tuple[str, str]] = {}
        for user, named in pairs(self.slack_approvers, "IC_SLACK_APPROVERS").items():
            subject, _, role = named.partition(":")
            role = role or "approver"
            if role not in {"viewer", "responder", "approver", "admin"} or not subject:
                raise ValueError(f"IC_SLACK_APPROVERS: {user}={named!r} is not principal[:role]")
            mapped[user] = (subject, role)
        return mapped

    @property
    def cluster(self) -> bool:
        """Gateways, workers and the world share Redis and Postgres (issue 6)."""
        return self.redis_url is not None and self.postgres_url is not None

    @property
    def resolved_aws_mode(self) -> AwsMode:
        """The AWS mode in force, after applying the defaults described on ``aws_mode``."""
        if self.aws_mode is not None:
            return self.aws_mode
        return AwsMode.LOCALSTACK if self.localstack_url else AwsMode.EMBEDDED


def freeze_window(text: str) -> tuple[datetime, datetime]:
    """``start/end`` (ISO 8601, with a time zone) as two datetimes, start before end."""
    start_text, sep, end_text = text.partition("/")
    if not sep:
        raise ValueError(f"change freeze {text!r}: write start/end, two ISO 8601 times")
    try:
        start, end = datetime.fromisoformat(start_text), datetime.fromisoformat(end_text)
    except ValueError as exc:
        raise ValueError(f"change freeze {text!r}: {exc}") from exc
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError(
            f"change freeze {text!r}: write start/end with time zones, start before end"
        )
    return start, end


def pairs(text: str, setting: str) -> dict[str, str]:
    """``a=1,b=2`` as ``{"a": "1", "b": "2"}``; ``ValueError`` naming ``setting`` when an item
    is not ``name=value``."""
    found: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{setting}: {item.split('=')[0]!r}... is not name=value")
        found[name.strip()] = value.strip()
    return found


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests build their own ``Settings(...)``."""
    return Settings()
