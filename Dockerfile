# The incident commander: one image for every role. The command picks the role:
#   docker run IMAGE serve    the FastAPI gateway (IC_PORT, 8080)
#   docker run IMAGE worker   a worker (alerts from Redis, graphs checkpointed to Postgres)
#   docker run IMAGE world    the simulated demo estate (one replica)
# docker-compose.yml runs them all together; see the README's "Running the stack".

# -- build: the project and its dependencies into a virtualenv (wheels only; no compiler) ----
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Only what the wheel is built from (pyproject names README.md; the dashboard is force-included).
COPY pyproject.toml README.md ./
COPY src ./src
COPY dashboard ./dashboard
RUN /opt/venv/bin/pip install .

# -- run: the virtualenv, a non-root user, nothing else ----------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    IC_HOST=0.0.0.0 \
    IC_WORKER_METRICS_HOST=0.0.0.0 \
    IC_API_KEYS_DB=/data/api-keys.sqlite \
    IC_AUDIT_DB=/data/audit.sqlite
COPY --from=build /opt/venv /opt/venv
COPY deploy/healthcheck.py /usr/local/bin/ic-healthcheck
# /data belongs to the app user, so a named volume mounted there starts out writable by it.
RUN groupadd --system --gid 10001 commander \
    && useradd --system --uid 10001 --gid commander --home-dir /data --shell /usr/sbin/nologin commander \
    && mkdir -p /data \
    && chown commander:commander /data \
    && chmod 0755 /usr/local/bin/ic-healthcheck
USER 10001:10001
WORKDIR /data
EXPOSE 8080 9464
# Probes the gateway's /healthz on IC_PORT; other roles override it (see docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "/usr/local/bin/ic-healthcheck"]
ENTRYPOINT ["incident-commander"]
CMD ["serve"]
