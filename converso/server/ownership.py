"""Which API key owns which thread, stored durably so ownership survives restarts and is shared
by every worker pointed at the same database.

Keys are never stored: an owner is the SHA-256 of the key. The first key to open a thread id
claims it; any other key is refused from then on.
"""

from __future__ import annotations

import hashlib
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


class ThreadOwnership:
    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = create_async_engine(async_url(url))
        self._ready = False

    async def start(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(_metadata.create_all)
        self._ready = True

    async def claim(self, thread_id: str, owner: str) -> Claim:
        """Resume ``thread_id`` for ``owner``, or claim it if nobody has; ``ThreadForbiddenError`` otherwise."""
        current = await self.owner_of(thread_id)
        if current is None:
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        insert(thread_owners).values(
                            thread_id=thread_id, owner=owner, created_at=datetime.now(UTC)
                        )
                    )
                return Claim(thread_id, resumed=False)
            except IntegrityError:
                # Another worker claimed the same id between our read and our insert.
                current = await self.owner_of(thread_id)
        if current != owner:
            raise ThreadForbiddenError(thread_id)
        return Claim(thread_id, resumed=True)

    async def owner_of(self, thread_id: str) -> str | None:
        async with self._engine.connect() as conn:
            row = await conn.execute(
                select(thread_owners.c.owner).where(thread_owners.c.thread_id == thread_id)
            )
            return row.scalar_one_or_none()

    async def aclose(self) -> None:
        await self._engine.dispose()
