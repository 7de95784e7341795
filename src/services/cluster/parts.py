"""What every process of a cluster opens from its settings: the Redis client, the Postgres pools
(one for the stores, one in the shape LangGraph's ``PostgresSaver`` needs), and the stores.

Each piece fails fast and clearly at start (a wrong URL, a server that is down) and then
rides out outages: redis-py retries a dropped connection, and the pools reconnect.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from services.cluster.stream import AlertStream, unavailable
from services.errors import ConfigurationError, StoreUnavailableError
from services.pg.estates import EstateRegistry
from services.pg.pool import Pool, connection_info, open_pool
from services.settings import Settings

_TIMEOUT_S = 5.0
_SETUP_LOCK = 0x49435350  # "ICSP": LangGraph's checkpoint tables are being created


@dataclass(slots=True)
class ClusterParts:
    settings: Settings
    redis: redis.Redis
    pool: Pool
    saver: PostgresSaver
    registry: EstateRegistry
    stream: AlertStream

    @property
    def estate(self) -> str:
        return self.settings.estate


def redis_client(url: str) -> redis.Redis:
    """A client that retries a dropped connection a few times with backoff, and never waits
    on a dead server for longer than a few seconds per call."""
    return redis.Redis.from_url(
        url,
        socket_timeout=_TIMEOUT_S,
        socket_connect_timeout=2.0,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


@contextmanager
def open_cluster(settings: Settings) -> Iterator[ClusterParts]:
    """The cluster's shared parts, closed on exit."""
    if settings.redis_url is None or settings.postgres_url is None:
        raise ConfigurationError("the cluster needs IC_REDIS_URL and IC_POSTGRES_URL")
    client = redis_client(settings.redis_url.get_secret_value())
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise unavailable("at start", exc) from exc
    url, schema = settings.postgres_url.get_secret_value(), settings.postgres_schema
    try:
        pool = open_pool(url, schema=schema, timeout=_TIMEOUT_S, max_size=8)
        try:
            saver_pool = _saver_pool(url, schema)
            try:
                saver = PostgresSaver(saver_pool)
                _setup_alone(saver, saver_pool)
                yield ClusterParts(
                    settings=settings,
                    redis=client,
                    pool=pool,
                    saver=saver,
                    registry=EstateRegistry(pool),
                    stream=AlertStream(
                        client, settings.estate, max_backlog=settings.ingest_queue_max
                    ),
                )
            finally:
                saver_pool.close()
        finally:
            pool.close()
    finally:
        client.close()


def _setup_alone(saver: PostgresSaver, pool: ConnectionPool[Any]) -> None:
    """``saver.setup()``, one process at a time: two setups racing collide in the catalogue.

    The lock is a session lock taken by polling, so no waiting transaction stays open: the
    setup builds an index ``CONCURRENTLY``, which waits for every open transaction, and
    would wait forever for a process blocked on the lock it holds.
    """
    with pool.connection() as conn:  # autocommit
        deadline = time.monotonic() + 60
        while not _try_lock(conn):
            if time.monotonic() > deadline:
                raise StoreUnavailableError("checkpoints", "another process set up for 60 s")
            time.sleep(0.1)
        try:
            saver.setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (_SETUP_LOCK,)).fetchone()
    return bool(row["got"])


def _saver_pool(url: str, schema: str | None) -> ConnectionPool[Any]:
    """LangGraph's saver wants autocommit, dict rows and no prepared statements."""
    conninfo = connection_info(url, schema=schema, timeout=_TIMEOUT_S, where="checkpoints")
    pool: ConnectionPool[Any] = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=8,
        timeout=_TIMEOUT_S,
        check=ConnectionPool.check_connection,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        name="checkpoints",
        open=False,
    )
    try:
        pool.open(wait=True, timeout=_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        pool.close()
        raise StoreUnavailableError("checkpoints", f"cannot open the pool: {exc}") from exc
    return pool
