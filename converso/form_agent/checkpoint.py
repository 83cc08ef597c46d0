"""Opening the checkpointer a FormAgentExecutor persists conversations in."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from converso.storage.sqlite_writers import SqliteWriters, writers_of

CheckpointerSpec = BaseCheckpointSaver | str | Path | sqlite3.Connection | Any | None


@dataclass
class OpenCheckpointer:
    saver: BaseCheckpointSaver
    close: Callable[[], None]


def open_checkpointer(spec: CheckpointerSpec) -> OpenCheckpointer:
    """``None``: in memory. A saver: used as is (the caller closes it). A ``postgresql://`` URL or a psycopg
    connection/pool: PostgresSaver. A file path, ``sqlite:///path`` URL or sqlite3 connection:
    SqliteSaver. Connections opened here are closed by ``close``."""
    if spec is None:
        return OpenCheckpointer(InMemorySaver(), _nothing)
    if isinstance(spec, BaseCheckpointSaver):
        return OpenCheckpointer(spec, _nothing)
    if isinstance(spec, sqlite3.Connection):
        return OpenCheckpointer(_sqlite_saver(spec), _nothing)
    if isinstance(spec, Path):
        spec = str(spec)
    if isinstance(spec, str):
        if spec.startswith(("postgresql://", "postgres://")):
            return _open_postgres(spec)
        path = spec.removeprefix("sqlite:///") if spec.startswith("sqlite:///") else spec
        if "://" in path:
            raise ValueError(
                f"unsupported checkpointer URL {spec!r}; accepted: a SQLite file path, sqlite:///path, "
                "postgresql://..., a connection, or a LangGraph checkpoint saver"
            )
        # The saver serializes access with its own lock, so one connection can serve every thread.
        connection = sqlite3.connect(path, check_same_thread=False)
        _commit_without_fsync(connection)
        writers = None if path == ":memory:" else writers_of(path)
        return OpenCheckpointer(_sqlite_saver(connection, writers), connection.close)
    return OpenCheckpointer(_postgres_saver(spec), _nothing)


def _commit_without_fsync(connection: sqlite3.Connection) -> None:
    # A commit in WAL mode with synchronous=FULL waits for an fsync of the log (0.4-0.7 ms, under the
    # saver's lock, on every turn). With NORMAL the log is synced only when it is checkpointed into the
    # database. A commit is still in the log before the turn's reply is returned, so killing the process at
    # any point loses nothing (the invariant "everything survives a restart"); only a power loss or an
    # OS crash can drop the last turns. Connections given by the caller keep their own settings.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


class QueuedSqliteSaver(SqliteSaver):
    """A SqliteSaver whose writes queue with the file's other writers (see converso.storage.sqlite_writers):
    several server workers share one checkpoint file."""

    def __init__(self, conn: sqlite3.Connection, writers: SqliteWriters) -> None:
        super().__init__(conn)
        self.writers = writers

    # Every SqliteSaver statement runs in ``cursor``; ``transaction=True`` is a write it commits.
    @contextlib.contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        with contextlib.ExitStack() as stack:
            if transaction:
                stack.enter_context(self.writers.turn())
            yield stack.enter_context(super().cursor(transaction=transaction))


def _sqlite_saver(
    connection: sqlite3.Connection, writers: SqliteWriters | None = None
) -> BaseCheckpointSaver:
    saver = SqliteSaver(connection) if writers is None else QueuedSqliteSaver(connection, writers)
    saver.setup()
    return saver


def _open_postgres(url: str) -> OpenCheckpointer:
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=8,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=True,
    )
    try:
        return OpenCheckpointer(_postgres_saver(pool), pool.close)
    except Exception:
        pool.close()
        raise


def _postgres_saver(connection: Any) -> BaseCheckpointSaver:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

    if not isinstance(connection, Connection | ConnectionPool):
        raise TypeError(
            f"cannot use {type(connection).__name__} as a checkpointer; accepted: None, a LangGraph "
            "checkpoint saver, a SQLite path or connection, a postgresql:// URL, a psycopg connection or pool"
        )
    saver = PostgresSaver(connection)
    saver.setup()
    return saver


def _nothing() -> None:
    return None
