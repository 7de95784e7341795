"""The cluster's processes (issue 6): ``worker`` commands an estate (or stands by); ``watch``
keeps the clock of a real estate (an estate file) for them, ``world`` runs a simulated one.
``serve`` with ``IC_REDIS_URL`` is the cluster's gateway.

Every process of a cluster must see the same AWS: the embedded emulator lives inside one
process, so the cluster takes LocalStack (``IC_AWS_MODE=localstack``) or an account.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry, start_http_server

from orchestrator.context import CommanderPolicy
from orchestrator.tracing import graph_callbacks
from orchestrator.watch import run_watch
from orchestrator.worker import Worker, WorkerMetrics
from orchestrator.world import run_world
from services.aws.emulator import EmbeddedEmulator
from services.aws.port import open_aws_port
from services.cluster.paging import run_notifier
from services.cluster.parts import open_cluster
from services.errors import ConfigurationError
from services.estate.load import load_estate
from services.estate.realise import realise
from services.llm import configured_advisor
from services.metrics import CommanderMetrics, LlmMetrics
from services.scenario.loader import load_scenario, resolve_scenarios
from services.settings import AwsMode, Settings, get_settings
from services.tracing import install_log_correlation, tracer_provider

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(watch)
    app.command()(world)
    app.command()(emulator)


def worker(
    name: Annotated[
        str | None, typer.Option(help="This worker's name in the consumer group (host-pid).")
    ] = None,
) -> None:
    """Run a worker of the cluster: it commands the estate while it holds the estate's lease
    and stands by otherwise (IC_REDIS_URL, IC_POSTGRES_URL, IC_ESTATE)."""
    settings = _cluster_settings()
    _logging()
    registry = CollectorRegistry()
    start_http_server(
        settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=registry
    )
    callbacks = []
    provider = tracer_provider(settings.otlp_endpoint) if settings.tracing else None
    if provider is not None:
        callbacks = graph_callbacks(provider.get_tracer("incident-commander.graph"))
    me = name or f"{socket.gethostname()}-{os.getpid()}"
    try:
        with _stopping() as stop, open_aws_port(settings) as port, open_cluster(settings) as parts:
            log.info("worker %s for estate %s", me, settings.estate)
            paging = threading.Thread(  # one notifier per cluster, in the lease holder
                target=run_notifier, args=(parts,), kwargs={"name": me, "stop": stop},
                name="paging", daemon=True,
            )  # fmt: skip
            paging.start()
            Worker(
                parts, port, name=me, policy=CommanderPolicy.from_settings(settings),
                metrics=CommanderMetrics(registry), worker_metrics=WorkerMetrics(registry),
                callbacks=callbacks, approval_ttl_s=settings.approval_ttl_s,
                llm=configured_advisor(settings, metrics=LlmMetrics(registry)),
            ).run(stop)  # fmt: skip
            paging.join(settings.lease_ttl_s)
    finally:
        if provider is not None:
            provider.shutdown()


def watch() -> None:
    """Keep a real estate's clock for the cluster: check IC_ESTATE_FILE against AWS, register
    the estate, and publish a step of its wall clock each period until stopped."""
    settings = _cluster_settings()
    if settings.estate_file is None:
        raise ConfigurationError("watch commands the estate of IC_ESTATE_FILE: set it")
    _logging()
    with _stopping() as stop, open_aws_port(settings) as port, open_cluster(settings) as parts:
        realised = realise(port, load_estate(settings.estate_file), settings.estate_file)
        last = run_watch(
            realised, name=settings.estate, registry=parts.registry, stream=parts.stream, stop=stop
        )
        log.info("estate %s watched up to step %d", settings.estate, last)


def world(
    scenario: Annotated[
        str | None, typer.Option(help="Built-in scenario or file (IC_DEMO_SCENARIO).")
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Simulated seconds per wall second (IC_DEMO_SPEED).")
    ] = None,
) -> None:
    """Run a simulated estate for the cluster: build it on the shared AWS endpoint, register
    it, and publish its steps to the estate's alert stream until its scenario ends."""
    settings = _cluster_settings()
    _logging()
    name = scenario or settings.demo_scenario
    [path] = resolve_scenarios([name], settings.scenario_library)
    with _stopping() as stop, open_aws_port(settings) as port, open_cluster(settings) as parts:
        sim = run_world(
            port, load_scenario(path), name=settings.estate, registry=parts.registry,
            stream=parts.stream, speed=speed or settings.demo_speed, stop=stop,
        )  # fmt: skip
        log.info("estate %s stopped at step %d", settings.estate, sim.step_index)


def emulator(
    port: Annotated[int, typer.Option(help="Port to listen on (loopback only).")] = 4566,
) -> None:
    """Run the embedded AWS emulator on its own, for a cluster on one machine without
    LocalStack: point the cluster's processes at it with IC_AWS_MODE=localstack and
    IC_LOCALSTACK_URL=http://127.0.0.1:PORT."""
    _logging()
    with _stopping() as stop, EmbeddedEmulator("127.0.0.1", port) as running:
        typer.echo(f"AWS emulator on {running.url}", err=True)
        stop.wait()


def _cluster_settings() -> Settings:
    settings = get_settings()
    if not settings.cluster:
        raise ConfigurationError("set IC_REDIS_URL and IC_POSTGRES_URL: they make the cluster")
    if settings.resolved_aws_mode is AwsMode.EMBEDDED:
        raise ConfigurationError(
            "the cluster's processes must share one AWS endpoint; the embedded emulator lives "
            "inside a single process: set IC_AWS_MODE=localstack and IC_LOCALSTACK_URL"
        )
    return settings


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s trace=%(trace_id)s span=%(span_id)s %(message)s",
    )
    install_log_correlation()


@contextmanager
def _stopping() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT: the process finishes its message and hands over."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
