"""The estates the cluster commands, in Postgres: what every worker and gateway must agree on.

The process that watches an estate (``incident-commander world`` for a simulated one) writes
its record once: the resources behind each service, the catalogue (tier, price, capacity),
and the clock (start, step length). Workers build their commander from it, gateways their
read-only view. ``commanded_step`` is the last step the commanding worker finished: a worker
taking over starts its clock there, so a step is handled once even across a failover.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from services.aws.resources import Estate
from services.pg.pool import Pool, connection, create_tables

_STORE = "estate registry"
_TABLES = (
    """CREATE TABLE IF NOT EXISTS ic_estates (
        name text PRIMARY KEY,
        run_id text NOT NULL,
        scenario text NOT NULL,
        description jsonb NOT NULL,
        clock_start timestamptz NOT NULL,
        step_s integer NOT NULL,
        commanded_step integer NOT NULL DEFAULT -1,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
)
_ESTATE = TypeAdapter(Estate)


@dataclass(frozen=True, slots=True)
class EstateRecord:
    name: str
    run_id: str
    scenario: str
    estate: Estate
    catalogue: dict[str, dict[str, Any]]
    """Each service's profile as JSON (the orchestrator's ``ServiceProfile`` fields)."""
    clock_start: datetime
    step_s: int
    speed: float
    """Simulated seconds per wall second (1 for a real account)."""
    commanded_step: int = -1


class EstateRegistry:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        create_tables(pool, _STORE, _TABLES)

    def publish(self, record: EstateRecord) -> None:
        """Register ``record`` under its name; a new run of the same estate replaces the old
        one (and starts its commanded step again)."""
        description = {
            "estate": _ESTATE.dump_python(record.estate, mode="json"),
            "catalogue": record.catalogue,
            "speed": record.speed,
        }
        with connection(self.pool, _STORE) as conn:
            conn.execute(
                "INSERT INTO ic_estates (name, run_id, scenario, description, clock_start, step_s)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET run_id = excluded.run_id,"
                " scenario = excluded.scenario, description = excluded.description,"
                " clock_start = excluded.clock_start, step_s = excluded.step_s,"
                " commanded_step = -1, updated_at = now()",
                (
                    record.name, record.run_id, record.scenario, Jsonb(description),
                    record.clock_start, record.step_s,
                ),
            )  # fmt: skip

    def load(self, name: str) -> EstateRecord | None:
        with connection(self.pool, _STORE) as conn:
            row = conn.execute(
                "SELECT run_id, scenario, description, clock_start, step_s, commanded_step"
                " FROM ic_estates WHERE name = %s",
                (name,),
            ).fetchone()
        if row is None:
            return None
        run_id, scenario, description, start, step_s, commanded = row
        data: dict[str, Any] = description
        return EstateRecord(
            name=name,
            run_id=run_id,
            scenario=scenario,
            estate=_ESTATE.validate_python(data["estate"]),
            catalogue=dict(data["catalogue"]),
            clock_start=start,
            step_s=int(step_s),
            speed=float(data["speed"]),
            commanded_step=int(commanded),
        )

    def commanded(self, name: str, run_id: str, step: int) -> None:
        """The commander of ``name``'s run ``run_id`` has finished ``step``."""
        with connection(self.pool, _STORE) as conn:
            conn.execute(
                "UPDATE ic_estates SET commanded_step = GREATEST(commanded_step, %s),"
                " updated_at = now() WHERE name = %s AND run_id = %s",
                (step, name, run_id),
            )
