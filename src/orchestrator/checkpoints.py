"""Where incident threads are checkpointed: SQLite by default, Postgres when configured."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver


@contextmanager
def open_checkpointer(
    sqlite_path: Path, postgres_url: str | None = None
) -> Iterator[BaseCheckpointSaver[str]]:
    """A checkpointer, open for the duration of the block (tables created if missing)."""
    if postgres_url:
        with PostgresSaver.from_conn_string(postgres_url) as saver:
            saver.setup()
            yield saver
        return
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(sqlite_path), check_same_thread=False)
    try:
        yield SqliteSaver(connection)
    finally:
        connection.close()


def thread_ids(saver: BaseCheckpointSaver[str]) -> list[str]:
    """Every incident thread the checkpointer holds, oldest first."""
    seen: dict[str, None] = {}
    for item in saver.list(None):
        thread = item.config.get("configurable", {}).get("thread_id")
        if thread:
            seen.setdefault(str(thread), None)
    return list(reversed(seen))
