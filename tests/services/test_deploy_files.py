"""The deployment files (Dockerfile, docker-compose.yml, deploy/) checked statically, for the
mistakes a user would trip over on `docker compose up`: a setting the commander ignores, a
command it does not have, a Redis that loses accepted alerts, a Prometheus that refuses its
configuration or scrapes the wrong ports, a dashboard panel querying a metric nobody exports.
No Docker engine is needed (nor used)."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from prometheus_client import CollectorRegistry

from conftest import skip_or_fail
from orchestrator import worker
from services import metrics as commander_metrics
from services.cli import app
from services.gateway import middleware, telemetry
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "incident-commander.json"

_DEFAULTED = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: the default."""
    return _DEFAULTED.sub(lambda m: m.group(2) or "", value)


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(ROOT / "docker-compose.yml")
    assert isinstance(data, dict)
    assert "version" not in data, "the Compose spec has no version key"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(k): _interpolate(str(v)) for k, v in raw.items()}


def _commander_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in services.items()
        if str(s.get("image", "")).startswith("incident-commander")
    }


def _replicas(service: dict[str, Any]) -> int:
    return int(service.get("deploy", {}).get("replicas", 1))


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


# -- docker-compose.yml ------------------------------------------------------------------------


def test_compose_runs_every_role_with_its_replicas(services: dict[str, dict[str, Any]]) -> None:
    required = {
        "gateway-1", "gateway-2", "worker", "world", "redis", "postgres", "localstack",
        "prometheus", "otel-collector", "grafana",
    }  # fmt: skip
    assert required <= set(services), f"missing services: {sorted(required - set(services))}"
    assert _replicas(services["worker"]) == 3
    assert _replicas(services["world"]) == 1, "two worlds would simulate two estates"
    host_ports = set()
    for name in ("gateway-1", "gateway-2"):
        gateway = services[name]
        assert gateway["command"] == ["serve"]
        [published] = gateway["ports"]
        host_port, container_port = published.rsplit(":", 2)[-2:]
        assert container_port == _env(gateway)["IC_PORT"], f"{name}: published port is not IC_PORT"
        assert _env(gateway)["IC_HOST"] == "0.0.0.0", f"{name}: would listen on loopback only"
        host_ports.add(host_port)
    assert host_ports == {"8081", "8082"}


def test_compose_sets_only_settings_the_commander_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    """Settings ignore unknown variables (extra="ignore"), so a misspelt one is silently lost."""
    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "IC_"
    known = {prefix + name.upper() for name in Settings.model_fields}
    used = {
        (service_name, var)
        for service_name, service in services.items()
        for var in _env(service)
        if var.startswith(prefix)
    }
    used |= {
        ("Dockerfile", var)
        for word, rest in _dockerfile_instructions()
        if word == "ENV"
        for var in re.findall(r"(\w+)=", rest)
        if var.startswith(prefix)
    }
    assert used, "no IC_ settings found: the parser above is broken"
    unknown = sorted((where, var) for where, var in used if var not in known)
    assert not unknown, f"not settings of services.settings.Settings: {unknown}"


def test_every_commander_starts_with_the_default_values(
    services: dict[str, dict[str, Any]],
) -> None:
    """The settings each container gets (the image's ENV, then the compose file's, with
    `${VAR:-default}` at its default) pass validation: `docker compose up` with nothing set
    starts every role instead of exiting on a settings error."""
    image_env = {
        var: value
        for word, rest in _dockerfile_instructions()
        if word == "ENV"
        for var, value in re.findall(r"(\w+)=(\S+)", rest)
    }
    for name, service in _commander_services(services).items():
        env = image_env | _env(service)
        fields = {
            var.removeprefix("IC_").lower(): v for var, v in env.items() if var.startswith("IC_")
        }
        settings = Settings(_env_file=None, **fields)  # type: ignore[call-arg]
        assert settings.cluster, f"{name}: not in cluster mode"


def test_compose_runs_only_real_commands(services: dict[str, dict[str, Any]]) -> None:
    cli = typer.main.get_command(app)
    commands = set(cli.commands)  # type: ignore[attr-defined]
    commanders = _commander_services(services)
    assert {"gateway-1", "gateway-2", "worker", "world"} <= set(commanders)
    missing = sorted(
        (name, s["command"][0]) for name, s in commanders.items() if s["command"][0] not in commands
    )
    assert not missing, f"not commands of incident-commander ({sorted(commands)}): {missing}"


def test_cluster_mode_is_configured_for_every_commander(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in _commander_services(services).items():
        env = _env(service)
        assert env["IC_REDIS_URL"].startswith("redis://redis:"), name
        assert env["IC_POSTGRES_URL"].startswith("postgresql://"), name
        assert urlsplit(env["IC_POSTGRES_URL"]).hostname == "postgres", name
        assert env["IC_AWS_MODE"] == "localstack", name
        assert urlsplit(env["IC_LOCALSTACK_URL"]).hostname == "localstack", name
    for name in ("gateway-1", "gateway-2"):
        env = _env(services[name])
        assert env["IC_RATE_LIMIT_STORAGE"].startswith("redis://redis:"), name
        assert env["IC_METRICS_TOKEN"], name


def test_redis_keeps_every_accepted_alert(services: dict[str, dict[str, Any]]) -> None:
    """A gateway answers 202 once an alert is in the stream: only an fsync per write keeps that
    promise across a Redis restart."""
    redis = services["redis"]
    command = redis["command"]
    args = command if isinstance(command, list) else command.split()
    pairs = dict(zip(args[1::2], args[2::2], strict=False))
    assert args[0] == "redis-server"
    assert pairs.get("--appendonly") == "yes"
    assert pairs.get("--appendfsync") == "always"
    assert any(str(v).endswith(":/data") for v in redis["volumes"]), "AOF must be on a volume"


def test_depends_on_waits_only_for_checks_that_exist(
    services: dict[str, dict[str, Any]],
) -> None:
    """`service_healthy` on a service without a health check fails `docker compose up`."""
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if rule.get("condition") == "service_healthy":
                check = services[target].get("healthcheck") or {"disable": True}
                assert not check.get("disable"), f"{name}: {target} has no health check"
    for name in ("worker", "gateway-1", "gateway-2", "world"):
        for backing in ("redis", "postgres"):
            assert services[name]["depends_on"][backing]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"


def test_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    """A missing bind-mount source makes Docker create an empty directory in its place."""
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_traces_reach_the_collector(services: dict[str, dict[str, Any]]) -> None:
    """The exporter posts to IC_OTLP_ENDPOINT as given: without /v1/traces, every export 404s."""
    collector = _load_yaml(DEPLOY / "otel-collector.yaml")
    http = urlsplit("http://" + collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
    assert http.hostname == "0.0.0.0", "the collector would accept nothing from other containers"
    for name, service in _commander_services(services).items():
        endpoint = urlsplit(_env(service)["IC_OTLP_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port, endpoint.path) == (
            "otel-collector", http.port, "/v1/traces",
        ), name  # fmt: skip
        assert _env(service)["IC_TRACING"] == "true", name
    [mount] = services["otel-collector"]["volumes"]
    assert mount.startswith("./deploy/otel-collector.yaml:")


def test_collector_pipelines_use_only_defined_components() -> None:
    collector = _load_yaml(DEPLOY / "otel-collector.yaml")
    pipelines = collector["service"]["pipelines"]
    assert "traces" in pipelines
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in collector[kind], f"{name}: {kind} {component} not defined"
        assert pipeline["receivers"], name
        assert pipeline["exporters"], name


# -- Prometheus --------------------------------------------------------------------------------


def test_prometheus_scrapes_each_gateway_and_every_worker(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    config = _load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    gateway = jobs["gateway"]
    targets = {t for group in gateway["static_configs"] for t in group["targets"]}
    assert targets == {
        f"{name}:{_env(services[name])['IC_PORT']}" for name in ("gateway-1", "gateway-2")
    }
    assert gateway["authorization"]["type"] == "Bearer"
    [token] = services["prometheus"]["configs"]
    assert gateway["authorization"]["credentials_file"] == token["target"]
    content = _interpolate(compose["configs"][token["source"]]["content"])
    for name in ("gateway-1", "gateway-2"):
        assert content == _env(services[name])["IC_METRICS_TOKEN"], f"{name}: another token"

    worker = jobs["worker"]
    [dns] = worker["dns_sd_configs"]
    assert dns["names"] == ["worker"]
    assert dns["type"] == "A"
    assert str(dns["port"]) == _env(services["worker"])["IC_WORKER_METRICS_PORT"]
    assert _env(services["worker"])["IC_WORKER_METRICS_HOST"] == "0.0.0.0"


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool (Debian package prometheus) is not installed")
    # promtool opens credentials files; the token file only exists inside the container.
    token = tmp_path / "metrics-token"
    token.write_text("test-token\n", encoding="utf-8")
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    assert "/etc/prometheus/metrics-token" in text
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/etc/prometheus/metrics-token", str(token)), encoding="utf-8")
    checked = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- Grafana -----------------------------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


def _metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords,
    label names (in matchers or grouping clauses) or durations."""
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _GROUPING):
        expr = pattern.sub(" ", expr)
    return {name for name in _IDENTIFIER.findall(expr) if name.lower() not in _KEYWORDS}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.99, sum by (route, le) (rate(a_bucket{route!="/x"}[5m])))',
            {"a_bucket"},
        ),
        (
            "1 - sum(increase(b_total[$__range])) / sum(increase(c_total[1h]))",
            {"b_total", "c_total"},
        ),
        ('max without (instance, job) (d) and on (x) up{job="worker"}', {"d", "up"}),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert _metric_names(expr) == names


def _registered_metric_names() -> set[str]:
    """Every series name the code's metric classes expose, on a fresh registry."""
    registry = CollectorRegistry()
    for module in (commander_metrics, telemetry, middleware, worker):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and cls.__module__ == module.__name__):
                continue
            if issubclass(cls, BaseException):
                continue
            params = inspect.signature(cls).parameters
            if "registry" in params:
                cls(**({"registry": registry} | ({"app": None} if "app" in params else {})))
    registry.register(telemetry.IncidentCollector(dict))
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    names = {"up"}  # Prometheus' own, per target
    for family in registry.collect():
        names |= {family.name + suffix for suffix in suffixes.get(family.type, [""])}
    return names


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def test_dashboard_queries_only_metrics_the_code_registers() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {
        name
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
        for name in _metric_names(target["expr"])
    }
    registered = _registered_metric_names()
    assert {"ic_http_requests_total", "ic_actions_total", "ic_incidents"} <= registered
    unknown = sorted(queried - registered)
    assert not unknown, f"queried but registered nowhere: {unknown}"
    for needed in ("ic_ingest_deliveries_total", "ic_consensus_decisions_total", "up"):
        assert needed in queried


def test_dashboard_uses_the_provisioned_datasource(services: dict[str, dict[str, Any]]) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    [source] = _load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert urlsplit(source["url"]).hostname == "prometheus"
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert "__inputs" not in dashboard, "a provisioned dashboard cannot ask for inputs"
    panels = _panels(dashboard)
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        for holder in [panel, *panel.get("targets", [])]:
            if "datasource" in holder:
                assert holder["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel

    [provider] = _load_yaml(provisioning / "dashboards" / "commander.yml")["providers"]
    mounts = dict(
        str(v).split(":")[:2] for v in services["grafana"]["volumes"] if str(v).startswith(".")
    )
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


# -- Dockerfile --------------------------------------------------------------------------------


def test_image_runs_the_cli_as_a_non_root_user() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim AS build")
    runtime = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM") :]
    assert ("ENTRYPOINT", '["incident-commander"]') in runtime
    [user] = [rest for word, rest in runtime if word == "USER"]
    assert user.split(":")[0] not in {"root", "0"}
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    for word, rest in instructions:
        if word == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert source.rstrip("/") in kept, f"COPY {source}: excluded by .dockerignore"
                assert (ROOT / source).exists(), f"COPY {source}: no such file"


# -- docker-compose.localstack.yml -------------------------------------------------------------


def test_the_localstack_compose_serves_the_estate_file_it_mounts() -> None:
    """The commander runs in LocalStack mode on the estate file of ./estate, keeps its state in
    a volume, and every variable it sets is a setting the commander reads."""
    data = _load_yaml(ROOT / "docker-compose.localstack.yml")
    services = data["services"]
    commander = services["commander"]
    env = _env(commander)
    known = {"IC_" + name.upper() for name in Settings.model_fields}
    assert set(env) <= known, f"unknown settings: {sorted(set(env) - known)}"
    settings = Settings(
        _env_file=None, **{k.removeprefix("IC_").lower(): v for k, v in env.items()}
    )  # type: ignore[call-arg]
    assert settings.resolved_aws_mode.value == "localstack"
    assert urlsplit(env["IC_LOCALSTACK_URL"]).hostname == "localstack"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in commander["volumes"]}
    assert str(Path(env["IC_ESTATE_FILE"]).parent) in mounts
    assert any(env["IC_STATE_DIR"].startswith(target) for target in mounts)
    commands = {c.name for c in typer.main.get_command(app).commands.values()}  # type: ignore[attr-defined]
    assert commander["command"][0] in commands
    assert "resourcegroupstaggingapi" in _env(services["localstack"])["SERVICES"]
