"""One turn at a time per conversation thread, within a process and across processes.

Two browser tabs (or two server workers) sending to the same thread at once would otherwise
run two graph turns on the same checkpoint, and the second would overwrite the first's form
progress. Every surface that can receive concurrent messages takes the thread's lock for the
whole turn.

``LocalThreadLocks`` serializes within one process (enough for SQLite, which is single-process
by design). ``PostgresThreadLocks`` additionally holds a PostgreSQL transaction-level advisory
lock for the turn, so workers sharing one database queue behind each other; a transaction lock
(rather than a session lock) is released by the server even if the worker dies mid-turn.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


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


class PostgresThreadLocks:
    """Local locks first (one waiter per process on the database), then an advisory lock."""

    def __init__(self, url: str, *, max_connections: int = 20) -> None:
        from psycopg_pool import AsyncConnectionPool

        self._local = LocalThreadLocks()
        self._pool = AsyncConnectionPool(url, min_size=1, max_size=max_connections, open=False)
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def _ensure_open(self) -> None:
        async with self._open_lock:
            if not self._opened:
                await self._pool.open(wait=True, timeout=10)
                self._opened = True

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        await self._ensure_open()
        async with self._local.hold(thread_id), self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(thread_id),))
            yield

    async def aclose(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False


def thread_locks_for(url: str | None) -> ThreadLocks:
    """Advisory locks when the conversation state lives in PostgreSQL, local locks otherwise."""
    if url and url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return PostgresThreadLocks(url.replace("postgresql+psycopg://", "postgresql://", 1))
    return LocalThreadLocks()
