"""One turn at a time per conversation thread, within a process and across processes.

Two browser tabs (or two server workers) sending to the same thread at once would otherwise
run two graph turns on the same checkpoint, and the second would overwrite the first's form
progress. Every surface that can receive concurrent messages takes the thread's lock for the
whole turn.

``LocalThreadLocks`` serializes within one process. ``FileThreadLocks`` adds a POSIX record lock
on one byte of a lock file next to the SQLite state, so several processes on one machine
(``converso serve --workers N``) queue behind each other; the kernel drops a dead process's
locks. ``PostgresThreadLocks`` adds a PostgreSQL session-level advisory lock, so workers sharing
one database queue behind each other; PostgreSQL drops a dead worker's locks with its session.

Both cross-process locks are taken without blocking and retried with a short backoff: contention
between processes means two tabs of one conversation on different workers, which is rare, and a
waiter that never blocks inside the lock service can be cancelled without leaving a lock behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ThreadLocks(Protocol):
    def hold(self, thread_id: str) -> AbstractAsyncContextManager[None]:
        """Wait until no other turn of ``thread_id`` runs, and keep it that way until exit."""
        ...

    async def aclose(self) -> None: ...


class LocalThreadLocks:
    """asyncio locks per thread id, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        self._users[thread_id] = self._users.get(thread_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[thread_id] -= 1
            if self._users[thread_id] == 0:
                del self._users[thread_id]
                del self._locks[thread_id]

    def held(self) -> int:
        """How many threads currently have a holder or a waiter (for tests and metrics)."""
        return len(self._locks)

    async def aclose(self) -> None:
        return None


def advisory_key(thread_id: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` derived from the thread id."""
    digest = hashlib.blake2b(f"converso-thread:{thread_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class FileThreadLocks:
    """Local locks first (one waiter per process on the file), then a record lock on the byte at
    the thread's 62-bit key in ``path``.

    Record locks belong to the process, so two thread ids of one process colliding on the same
    byte would not exclude each other; with 62-bit keys that needs about 2**31 live threads.
    Waiting polls (cross-process contention means two tabs of one conversation on different
    workers, which is rare), so a cancelled waiter never leaves a lock behind.
    """

    _KEY_MASK = (1 << 62) - 1

    def __init__(self, path: str | os.PathLike[str], *, poll_s: tuple[float, float] = (0.002, 0.05)) -> None:
        self._local = LocalThreadLocks()
        self._path = os.fspath(path)
        self._fd: int | None = None
        self._poll_s = poll_s

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        offset = advisory_key(thread_id) & self._KEY_MASK
        async with self._local.hold(thread_id):
            fd = self._file()

            async def try_lock() -> bool | None:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
                    return True
                except OSError:  # EAGAIN/EACCES: another process runs a turn of this thread
                    return None

            await _until_taken(try_lock, self._poll_s)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    def held(self) -> int:
        return self._local.held()

    async def aclose(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PostgresThreadLocks:
    """Local locks first (one waiter per process on the database), then a session-level advisory
    lock on the one connection this process keeps for its locks.

    A session holds any number of advisory locks at once, so one connection serves every turn in
    flight: a turn spends most of its time waiting for the model, and a connection held per turn
    would cap the turns running at once at the pool's size. Should that connection drop, PostgreSQL
    releases its locks; the turns holding them finish, and the next ones lock on a new connection.
    """

    def __init__(self, url: str, *, poll_s: tuple[float, float] = (0.002, 0.05)) -> None:
        self._local = LocalThreadLocks()
        self._url = url
        self._poll_s = poll_s
        self._conn: Any = None
        self._connecting = asyncio.Lock()

    async def _connection(self) -> Any:
        import psycopg

        async with self._connecting:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=10
                )
            return self._conn

    async def _try_lock(self, key: int) -> Any:
        """The connection now holding ``key``, or None if another session holds it."""
        import psycopg

        conn = await self._connection()
        try:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        except psycopg.OperationalError:
            # The session was lost since the last turn (a database restart, an idle timeout): its
            # locks went with it, so a new session starts clean. A second failure is the caller's.
            await conn.close()
            conn = await self._connection()
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = await cursor.fetchone()
        return conn if row and row[0] else None

    async def _unlock(self, conn: Any, key: int) -> None:
        if conn.closed:
            return  # the lock went with the session
        try:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except Exception:
            # Unsure whether the unlock reached the server: only closing the session is sure to
            # release the lock. The next turn connects again.
            await conn.close()

    async def _lock(self, key: int) -> Any:
        async def try_lock() -> Any:
            attempt = asyncio.ensure_future(self._try_lock(key))
            try:
                return await asyncio.shield(attempt)
            except asyncio.CancelledError:
                # The server may have granted the lock as the waiter was cancelled: give it back.
                with contextlib.suppress(Exception):
                    if (granted := await attempt) is not None:
                        await self._unlock(granted, key)
                raise

        return await _until_taken(try_lock, self._poll_s)

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        key = advisory_key(thread_id)
        async with self._local.hold(thread_id):
            conn = await self._lock(key)
            try:
                yield
            finally:
                await asyncio.shield(self._unlock(conn, key))

    def held(self) -> int:
        return self._local.held()

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


async def _until_taken(try_take: Callable[[], Awaitable[T | None]], poll_s: tuple[float, float]) -> T:
    """Call ``try_take`` until it returns something, sleeping between tries from ``poll_s[0]``,
    doubling up to ``poll_s[1]``."""
    delay, longest = poll_s
    while (taken := await try_take()) is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, longest)
    return taken


def thread_locks_for(url: str | None) -> ThreadLocks:
    """Advisory locks when the conversation state lives in PostgreSQL, a lock file next to a SQLite
    state file, local locks otherwise (no URL, or SQLite in memory)."""
    if url and url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return PostgresThreadLocks(url.replace("postgresql+psycopg://", "postgresql://", 1))
    path = (url or "").removeprefix("sqlite+aiosqlite:///").removeprefix("sqlite:///")
    if not path or path == ":memory:" or "://" in path:
        return LocalThreadLocks()
    return FileThreadLocks(f"{path}.locks")
