"""Opening the checkpointer a FormAgentExecutor persists conversations in.

Turns run on LangGraph's async path, so every saver offered here answers the async calls: PostgreSQL
through ``AsyncPostgresSaver`` on a psycopg async pool, SQLite through the synchronous saver run in place
on the event loop (see :class:`SyncSaverForAsync`), and memory through ``InMemorySaver``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from converso.storage.sqlite_writers import SqliteWriters, writers_of

CheckpointerSpec = BaseCheckpointSaver | str | Path | sqlite3.Connection | Any | None


@dataclass
class OpenCheckpointer:
    saver: BaseCheckpointSaver
    close: Callable[[], Awaitable[None]]


async def open_checkpointer(spec: CheckpointerSpec) -> OpenCheckpointer:
    """``None``: in memory. A saver: used as is (the caller closes it; a synchronous SqliteSaver or
    PostgresSaver is adapted to the async path). A ``postgresql://`` URL or a psycopg connection/pool:
    AsyncPostgresSaver (PostgresSaver for a synchronous connection or pool). A file path, ``sqlite:///path``
    URL or sqlite3 connection: SqliteSaver. Connections opened here are closed by ``close``.

    Runs on the event loop the turns will run on: async savers belong to the loop they were made in."""
    if spec is None:
        return OpenCheckpointer(InMemorySaver(), _nothing)
    if isinstance(spec, BaseCheckpointSaver):
        return OpenCheckpointer(_async_capable(spec), _nothing)
    if isinstance(spec, sqlite3.Connection):
        return OpenCheckpointer(_sqlite_saver(spec), _nothing)
    if isinstance(spec, Path):
        spec = str(spec)
    if isinstance(spec, str):
        if spec.startswith(("postgresql://", "postgres://")):
            return await _open_postgres(spec)
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

        async def close() -> None:
            connection.close()

        return OpenCheckpointer(_sqlite_saver(connection, writers), close)
    return OpenCheckpointer(await _postgres_saver(spec), _nothing)


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
        if not transaction:
            with super().cursor(transaction=False) as cursor:
                yield cursor
            return
        with self.writers.turn(), super().cursor(transaction=True) as cursor:
            yield cursor


class SyncSaverForAsync(BaseCheckpointSaver):
    """A synchronous saver offered to LangGraph's async path.

    ``in_place=True`` (SQLite, a local file): the async calls run the sync ones right on the event loop.
    A checkpoint read or write there takes a fraction of a millisecond, less than handing it to a thread
    and back, and a turn waits for its own write anyway. ``in_place=False`` (a database over the network,
    e.g. a synchronous psycopg pool given by the caller): they run on the loop's thread pool.
    Everything else (``conn``, ``setup``, ...) is the wrapped saver's."""

    def __init__(self, inner: BaseCheckpointSaver, *, in_place: bool) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner
        self.in_place = in_place

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def config_specs(self) -> list:
        return self.inner.config_specs

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.inner.get_tuple(config)

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Iterator[CheckpointTuple]:
        return self.inner.list(config, **kwargs)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.inner.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.inner.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return self.inner.get_delta_channel_history(config=config, channels=channels)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.in_place:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._call(self.inner.get_tuple, config)

    async def alist(self, config: RunnableConfig | None, **kwargs: Any) -> AsyncIterator[CheckpointTuple]:
        for item in await self._call(lambda: list(self.inner.list(config, **kwargs))):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._call(self.inner.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._call(self.inner.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._call(self.inner.delete_thread, thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self._call(self.inner.get_delta_channel_history, config=config, channels=channels)


# LangGraph asks at the start of every run whether the saver's put_writes takes ``task_path``, by building
# its signature; one given here makes that check about three times faster.
for _method in (SyncSaverForAsync.put_writes, SyncSaverForAsync.aput_writes):
    _method.__signature__ = inspect.signature(_method)  # type: ignore[attr-defined]


def _async_capable(saver: BaseCheckpointSaver) -> BaseCheckpointSaver:
    if isinstance(saver, SqliteSaver):
        return SyncSaverForAsync(saver, in_place=True)
    with contextlib.suppress(ImportError):
        from langgraph.checkpoint.postgres import PostgresSaver

        if isinstance(saver, PostgresSaver):
            return SyncSaverForAsync(saver, in_place=False)
    return saver


def _sqlite_saver(
    connection: sqlite3.Connection, writers: SqliteWriters | None = None
) -> BaseCheckpointSaver:
    saver = SqliteSaver(connection) if writers is None else QueuedSqliteSaver(connection, writers)
    saver.setup()
    return SyncSaverForAsync(saver, in_place=True)


async def _open_postgres(url: str) -> OpenCheckpointer:
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=8,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    try:
        return OpenCheckpointer(await _postgres_saver(pool), pool.close)
    except BaseException:
        await pool.close()
        raise


async def _postgres_saver(connection: Any) -> BaseCheckpointSaver:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import AsyncConnection, Connection
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

    if isinstance(connection, Connection | ConnectionPool):
        saver = PostgresSaver(connection)
        await asyncio.to_thread(saver.setup)
        return SyncSaverForAsync(saver, in_place=False)
    if not isinstance(connection, AsyncConnection | AsyncConnectionPool):
        raise TypeError(
            f"cannot use {type(connection).__name__} as a checkpointer; accepted: None, a LangGraph "
            "checkpoint saver, a SQLite path or connection, a postgresql:// URL, a psycopg connection or pool"
        )
    from converso.form_agent.postgres_saver import PooledAsyncPostgresSaver

    saver = PooledAsyncPostgresSaver(connection)
    await saver.setup()
    return saver


async def _nothing() -> None:
    return None
