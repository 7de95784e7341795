"""The ledgers in Postgres: the SQLite ledgers' behaviour, per estate, and one claim per key
when worker processes race for it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.ledger import ActionLedger, ChangeLedger, LedgerEntry
from services.pg.ledger import PgActionLedger, PgChangeLedger
from services.pg.pool import Pool

RACER = """
import random, sys
from services.pg.ledger import PgActionLedger
from services.pg.pool import open_pool

url, schema, keys = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open_pool(url, schema=schema, max_size=2) as pool:
    ledger = PgActionLedger(pool, estate="est-a")
    order = list(range(keys))
    random.shuffle(order)
    print("ready", flush=True)
    sys.stdin.readline()  # go: every racer at once
    print(" ".join(str(k) for k in order if ledger.begin(f"inc-1:0:{k}")), flush=True)
"""


def action_story(ledger: ActionLedger | PgActionLedger) -> list[Any]:
    return [
        ledger.get("k1"),
        ledger.begin("k1"),
        ledger.get("k1"),
        ledger.begin("k1"),
        ledger.finish("k1", {"status": "ok", "at": datetime(2026, 3, 1, tzinfo=UTC), "n": [1]}),
        ledger.get("k1"),
        ledger.begin("k1"),
        ledger.begin("k2"),
    ]


def change_story(ledger: ChangeLedger | PgChangeLedger) -> list[Any]:
    return [
        ledger.observe("api", "v1", 0),
        ledger.observe("api", "v1", 1),
        ledger.observe("db", "v7", 1),
        ledger.observe("api", "v2", 4),
        ledger.observe("api", "v2", 5),
        ledger.observe("db", "v8", 5),
        ledger.observe("api", "v1", 9),
        ledger.observe("api", "v1", 9),
        ledger.changes(),
    ]


def test_the_action_ledger_behaves_as_the_sqlite_one(pool: Pool, tmp_path: Path) -> None:
    sqlite = ActionLedger(tmp_path / "ledger.sqlite")
    try:
        expected = action_story(sqlite)
    finally:
        sqlite.close()

    got = action_story(PgActionLedger(pool, estate="est-a"))

    assert got == expected
    assert got[5] == LedgerEntry(
        "k1", "done", {"status": "ok", "at": "2026-03-01 00:00:00+00:00", "n": [1]}
    )


def test_the_change_ledger_behaves_as_the_sqlite_one(pool: Pool, tmp_path: Path) -> None:
    sqlite = ChangeLedger(tmp_path / "ledger.sqlite")
    try:
        expected = change_story(sqlite)
    finally:
        sqlite.close()

    got = change_story(PgChangeLedger(pool, estate="est-a"))

    assert got == expected
    assert got[-1] == {"db": [5], "api": [4, 9]}


def test_keys_and_revisions_are_per_estate(pool: Pool) -> None:
    a, b = PgActionLedger(pool, estate="est-a"), PgActionLedger(pool, estate="est-b")
    assert a.begin("inc-1:0:c0")
    assert b.begin("inc-1:0:c0")  # the same key in another estate is another claim
    a.finish("inc-1:0:c0", {"status": "ok"})
    assert b.get("inc-1:0:c0") == LedgerEntry("inc-1:0:c0", "started", None)

    ca, cb = PgChangeLedger(pool, estate="est-a"), PgChangeLedger(pool, estate="est-b")
    ca.observe("api", "v1", 0)
    cb.observe("api", "v2", 0)
    assert not cb.observe("api", "v2", 1)
    assert ca.observe("api", "v2", 2)
    assert ca.changes() == {"api": [2]}
    assert cb.changes() == {}


def test_a_claim_survives_the_ledger_and_its_pool(new_pool: Any) -> None:
    first = new_pool()
    assert PgActionLedger(first, estate="est-a").begin("k")
    first.close()  # the worker died after begin, before finish

    again = PgActionLedger(new_pool(), estate="est-a")
    assert not again.begin("k")
    assert again.get("k") == LedgerEntry("k", "started", None)


def test_racing_processes_claim_each_key_exactly_once(postgres: str, schema: str) -> None:
    keys, racers = 300, 4  # the racers create the table: the first one there does
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, postgres, schema, str(keys)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(racers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            assert ready == "ready\n", proc.stderr.read() if proc.stderr else ready
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]

    won = [[int(k) for k in out.split()] for out, _ in outputs]
    claims = sorted(k for keys_won in won for k in keys_won)
    assert claims == list(range(keys))  # every key claimed, none twice
    assert sum(1 for keys_won in won if keys_won) >= 2, "no race happened: one racer took all"


def test_finish_of_an_unclaimed_key_stores_nothing(pool: Pool) -> None:
    ledger = PgActionLedger(pool, estate="est-a")
    ledger.finish("never-begun", {"status": "ok"})  # as SQLite: an UPDATE of no row
    assert ledger.get("never-begun") is None
