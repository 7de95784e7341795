"""The gateway: ``create_app(settings)`` builds the FastAPI app; its lifespan opens everything
the routes use (``deps.Gateway``) and closes it in reverse order.

On embedded defaults the app starts the AWS emulator, builds the demo estate (a built-in
scenario, ``IC_DEMO_SCENARIO``) and runs the commander on it live. Auth is always on: the
``serve`` command creates a first admin key when the key store is empty and shows it once.

Injection points are the seams tests and embedders need, each outside the process or global:
an AWS port already open, a Prometheus registry, an HTTP transport for SNS confirmations, a
JWKS client, an OpenTelemetry tracer provider (``tracing``; by default one that exports to
``IC_OTLP_ENDPOINT``, or nowhere). With ``IC_TRACING`` on, every request, graph node, agent
vote and AWS call is a span, and log records carry the trace id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from starlette.middleware.authentication import AuthenticationMiddleware

from orchestrator.backend import CommanderBackend, LocalBackend
from orchestrator.context import CommanderPolicy
from orchestrator.live import LiveCommander, open_live
from orchestrator.remote import RemoteBackend
from orchestrator.state_dir import SPEND_FILE
from orchestrator.tracing import graph_callbacks
from services.audit import AuditTrail
from services.aws.port import AwsPort, open_aws_port
from services.cluster import doorbell
from services.cluster.doorbell import RemoteFeed
from services.cluster.parts import ClusterParts, open_cluster
from services.estate.load import load_estate
from services.estate.realise import RealisedEstate, realise
from services.gateway import openapi, problems, static
from services.gateway.alerts import IngestOptions
from services.gateway.auth import ApiKeyStore, Authenticator, JwtVerifier, KeyStore, Role
from services.gateway.authn import CredentialBackend, refused
from services.gateway.deps import EventFeed, Gateway
from services.gateway.middleware import BodyLimit, HttpMetrics
from services.gateway.routes import alerts, audit, events, incidents, integrations, keys, ops
from services.gateway.slack import SlackGate
from services.gateway.sns_signature import SnsSignatures
from services.gateway.telemetry import GatewayMetrics, IncidentCollector
from services.gateway.throttle import Throttle
from services.llm import configured_advisor
from services.metrics import CommanderMetrics, LlmMetrics
from services.notify import open_notifier
from services.pg.audit import PgAuditTrail
from services.pg.keys import PgApiKeyStore
from services.scenario.loader import LoadedScenario, load_scenario, resolve_scenarios
from services.settings import Settings
from services.tracing import (
    install_log_correlation,
    instrument_botocore,
    tracer_provider,
    uninstrument_botocore,
)

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("incident-commander")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(
    settings: Settings,
    *,
    port: AwsPort | None = None,
    registry: CollectorRegistry | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    jwks_client: jwt.PyJWKClient | None = None,
    on_first_key: Callable[[str], None] | None = None,
    tracing: TracerProvider | None = None,
) -> FastAPI:
    """The gateway app. ``on_first_key`` receives the secret of the admin key created when the
    key store is empty (``serve`` prints it); without it, no key is created."""
    registry = registry if registry is not None else CollectorRegistry()
    throttle = Throttle(
        calls=settings.rate_limit,
        ingest=settings.ingest_rate_limit,
        auth_failures=settings.auth_failure_limit,
        storage=settings.rate_limit_storage,
    )
    verifier = _jwt_verifier(settings, jwks_client)
    provider: TracerProvider | None = None
    callbacks: list[BaseCallbackHandler] = []
    if settings.tracing:
        provider = tracing or tracer_provider(settings.otlp_endpoint)
        callbacks = graph_callbacks(provider.get_tracer("incident-commander.graph"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if provider is not None:
                instrument_botocore(provider)
                install_log_correlation()
                install_log_correlation(logging.getLogger("uvicorn"))
                # The stack unwinds in reverse: the patch comes off, then the provider flushes.
                stack.callback(provider.shutdown)
                stack.callback(uninstrument_botocore, provider)
            aws = port if port is not None else stack.enter_context(open_aws_port(settings))
            key_store: KeyStore
            if settings.cluster:
                parts = stack.enter_context(open_cluster(settings))
                key_store = PgApiKeyStore(parts.pool)  # every gateway sees every key
                trail, feed, backend, live = _cluster(stack, parts, aws)
            else:
                settings.api_keys_db.parent.mkdir(parents=True, exist_ok=True)
                key_store = stack.enter_context(ApiKeyStore(settings.api_keys_db))
                trail, feed, backend, live = _local(stack, settings, aws, registry, callbacks)
            if on_first_key is not None and not key_store.list():
                _, secret = key_store.create("admin", [Role.ADMIN])
                on_first_key(secret)
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=http_transport, timeout=10.0, follow_redirects=False)
            )
            collector = IncidentCollector(lambda: backend.incidents.counts())
            registry.register(collector)
            stack.callback(registry.unregister, collector)
            app.state.gateway = Gateway(
                settings=settings,
                keys=key_store,
                authenticator=Authenticator(keys=key_store, jwt=verifier),
                throttle=throttle,
                trail=trail,
                feed=feed,
                commander=backend,
                live=live,
                registry=registry,
                metrics=gateway_metrics,
                http=http,
                sns=SnsSignatures(http),
                ingest_options=IngestOptions(),
                slack=_slack_gate(settings),
            )
            yield

    gateway_metrics = GatewayMetrics(registry)
    app = FastAPI(
        title="Incident commander",
        version=_version(),
        summary="Five agents vote on every remediation; people approve what is risky.",
        description=(
            "Authenticate with `Authorization: Bearer <API key or JWT>` or `X-API-Key`. "
            "Errors are always `{error, detail, fields}`."
        ),
        lifespan=lifespan,
    )
    problems.install(app)
    openapi.install(app)
    for module in (alerts, incidents, events, audit, keys, ops, integrations):
        app.include_router(module.router)
    dashboard = dashboard_dir()
    if dashboard is not None:
        static.mount(app, dashboard)
    # Added innermost first: HTTP metrics see every answer, CORS answers preflights (which
    # never carry credentials) before authentication, and a 401 still carries CORS headers.
    app.add_middleware(AuthenticationMiddleware, backend=CredentialBackend(), on_error=refused)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )
    app.add_middleware(HttpMetrics, registry=registry)
    if provider is not None:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            excluded_urls="/healthz,/readyz,/metrics",
            exclude_spans=["receive", "send"],  # else every SSE message would be a span
        )
    return app


_Parts = tuple[AuditTrail | PgAuditTrail, EventFeed, CommanderBackend, LiveCommander | None]


def _local(
    stack: ExitStack | AsyncExitStack,
    settings: Settings,
    aws: AwsPort,
    registry: CollectorRegistry,
    callbacks: list[BaseCallbackHandler],
) -> _Parts:
    """One process: the commander runs here, on the estate file's estate (watched) or, by
    default, on a simulated one."""
    trail = stack.enter_context(AuditTrail(settings.audit_db))
    # Before the commander starts, so a first start's cursor is the head before its entries.
    notifier = stack.enter_context(open_notifier(settings, trail))
    source: LoadedScenario | RealisedEstate
    if settings.estate_file is not None:
        source = realise(aws, load_estate(settings.estate_file), settings.estate_file)
    else:
        [scenario_path] = resolve_scenarios([settings.demo_scenario], settings.scenario_library)
        source = load_scenario(scenario_path)
    live = stack.enter_context(
        open_live(
            aws,
            source,
            state_dir=settings.state_dir,
            policy=CommanderPolicy.from_settings(settings),
            trail=trail,
            metrics=CommanderMetrics(registry),
            speed=settings.demo_speed,
            callbacks=callbacks,
            llm=configured_advisor(
                settings, metrics=LlmMetrics(registry), spend_path=_spend_file(settings)
            ),
            approval_ttl_s=settings.approval_ttl_s,
            max_queued=settings.ingest_queue_max,
            postgres_url=(
                settings.postgres_url.get_secret_value() if settings.postgres_url else None
            ),
        )
    )
    if notifier is not None:  # paging and chat (services.notify), off the commander's thread
        notifier.catalogue = lambda: live.commander.ctx.catalogue
        stack.callback(trail.subscribe(notifier.poke))
        notifier.start()
    return trail, trail, LocalBackend(live), live


def _spend_file(settings: Settings) -> Path:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return settings.state_dir / SPEND_FILE


def _slack_gate(settings: Settings) -> SlackGate | None:
    secret = settings.slack_signing_secret
    if secret is None:
        return None
    return SlackGate(secret.get_secret_value(), settings.slack_approver_map)


def _cluster(stack: ExitStack | AsyncExitStack, parts: ClusterParts, aws: AwsPort) -> _Parts:
    """A gateway of the cluster: alerts go to the stream, reads come from the shared stores,
    and the event stream follows the shared trail by its doorbell."""
    if (risk := parts.stream.durability()) is not None:
        log.warning("accepted alerts may be lost if Redis crashes: %s", risk)
    trail = PgAuditTrail(
        parts.pool, on_commit=lambda entries: doorbell.ring(parts.redis, parts.estate, entries)
    )
    stack.callback(trail.close)
    feed = RemoteFeed(parts.redis, parts.estate, trail)
    feed.start()
    stack.callback(feed.stop)
    return trail, feed, RemoteBackend(parts, aws), None


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for serving the gateway. Proxy headers (``X-Forwarded-For``) are
    believed only from ``IC_FORWARDED_ALLOW_IPS``: uvicorn's default believes them from
    loopback, so anything on the host (or a proxy that passes the header on) could pick the
    client address the failed-authentication limit counts against."""
    if not settings.forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.forwarded_allow_ips)}


def dashboard_dir() -> Path | None:
    """The dashboard's static files: inside the installed package (wheels ship them there),
    else the source checkout's ``dashboard/``; None when neither is there."""
    packaged = Path(__file__).resolve().parent / "dashboard"
    checkout = Path(__file__).resolve().parents[3] / "dashboard"
    return next((d for d in (packaged, checkout) if (d / "index.html").is_file()), None)


def _jwt_verifier(settings: Settings, client: jwt.PyJWKClient | None) -> JwtVerifier | None:
    issuer, audience = settings.jwt_issuer, settings.jwt_audience
    if issuer is None or audience is None:
        return None
    if settings.jwt_secret is not None:
        return JwtVerifier.hs256(
            settings.jwt_secret, issuer=issuer, audience=audience,
            roles_claim=settings.jwt_roles_claim,
        )  # fmt: skip
    if settings.jwt_jwks_url or client is not None:
        return JwtVerifier.jwks(
            settings.jwt_jwks_url, issuer=issuer, audience=audience, client=client,
            roles_claim=settings.jwt_roles_claim, cooldown=timedelta(seconds=30),
        )  # fmt: skip
    return None
