"""Which API key owns which thread, stored durably so ownership survives restarts and is shared
by every worker pointed at the same database.

Keys are never stored: an owner is the SHA-256 of the key. The first key to open a thread id
claims it; any other key is refused from then on. Because a thread's owner never changes once
claimed, every process may remember the owners it has seen: resuming a known thread costs no
database round-trip, and the answer cannot go stale across workers.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_metadata = MetaData()
thread_owners = Table(
    "converso_thread_owners",
    _metadata,
    Column("thread_id", String(128), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

DEFAULT_CACHE_SIZE = 100_000


def owner_of_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ThreadForbiddenError(Exception):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"Thread {thread_id!r} belongs to another API key; open a thread of your own.")
        self.thread_id = thread_id


@dataclass(frozen=True)
class Claim:
    thread_id: str
    resumed: bool


def async_url(url: str) -> str:
    """An SQLAlchemy async URL from a plain path, sqlite: URL or PostgreSQL URL."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if "://" in url:
        return url
    return f"sqlite+aiosqlite:///{url}"


def sqlite_path(url: str) -> str | None:
    """The file behind a SQLite URL or plain path; None for anything else."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    if url.startswith("sqlite+aiosqlite:///"):
        return url.removeprefix("sqlite+aiosqlite:///")
    return None if "://" in url else url


_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS converso_thread_owners ("
    " thread_id VARCHAR(128) NOT NULL PRIMARY KEY, owner VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_converso_thread_owners_owner ON converso_thread_owners (owner)",
)


class _SqliteOwners:
    """Claims on the event loop's own thread, with the plain sqlite3 module.

    A claim is one indexed read or one small insert: tens of microseconds in WAL mode with
    synchronous=NORMAL (no fsync per commit). Handing it to a driver thread instead costs several
    thread switches per claim, and under load every switch waits for the GIL behind the worker
    threads running turns: opening 500 threads at once took seconds that way.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            # isolation_level=None: every statement commits on its own; timeout: other workers' claims.
            conn = sqlite3.connect(self._path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # A crash may lose the last claims; their clients then simply claim again.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        return self._conn

    async def start(self) -> None:
        for statement in _SQLITE_SCHEMA:
            self._db().execute(statement)

    async def insert(self, thread_id: str, owner: str) -> bool:
        try:
            self._db().execute(
                "INSERT INTO converso_thread_owners (thread_id, owner, created_at) VALUES (?, ?, ?)",
                (thread_id, owner, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def owner_of(self, thread_id: str) -> str | None:
        row = (
            self._db()
            .execute("SELECT owner FROM converso_thread_owners WHERE thread_id = ?", (thread_id,))
            .fetchone()
        )
        return row[0] if row else None

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _SqlAlchemyOwners:
    """Claims through SQLAlchemy's async engine (PostgreSQL via psycopg, on the event loop)."""

    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = create_async_engine(async_url(url))

    async def start(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(_metadata.create_all)

    async def insert(self, thread_id: str, owner: str) -> bool:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(thread_owners).values(
                        thread_id=thread_id, owner=owner, created_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            return False
        return True

    async def owner_of(self, thread_id: str) -> str | None:
        async with self._engine.connect() as conn:
            row = await conn.execute(
                select(thread_owners.c.owner).where(thread_owners.c.thread_id == thread_id)
            )
            return row.scalar_one_or_none()

    async def aclose(self) -> None:
        await self._engine.dispose()


class ThreadOwnership:
    def __init__(self, url: str, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        path = sqlite_path(url)
        self._store: _SqliteOwners | _SqlAlchemyOwners = (
            _SqliteOwners(path) if path is not None else _SqlAlchemyOwners(url)
        )
        self._known: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def start(self) -> None:
        await self._store.start()

    async def claim(self, thread_id: str, owner: str, *, fresh: bool = False) -> Claim:
        """Resume ``thread_id`` for ``owner``, or claim it if nobody has; ``ThreadForbiddenError`` otherwise.

        ``fresh``: the id was just generated by the server, so nobody can own it yet and the
        lookup before the insert is skipped.
        """
        current = None if fresh else await self.owner_of(thread_id)
        if current is None:
            if await self._store.insert(thread_id, owner):
                self._remember(thread_id, owner)
                return Claim(thread_id, resumed=False)
            # Another worker claimed the same id between our read and our insert.
            current = await self.owner_of(thread_id)
        if current != owner:
            raise ThreadForbiddenError(thread_id)
        return Claim(thread_id, resumed=True)

    async def owner_of(self, thread_id: str) -> str | None:
        known = self._known.get(thread_id)
        if known is not None:
            self._known.move_to_end(thread_id)
            return known
        owner = await self._store.owner_of(thread_id)
        if owner is not None:
            self._remember(thread_id, owner)
        return owner

    def _remember(self, thread_id: str, owner: str) -> None:
        self._known[thread_id] = owner
        self._known.move_to_end(thread_id)
        if len(self._known) > self._cache_size:
            self._known.popitem(last=False)

    async def aclose(self) -> None:
        await self._store.aclose()
