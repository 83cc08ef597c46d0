"""AsyncPostgresSaver without its process-wide lock when it draws on a pool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


class PooledAsyncPostgresSaver(AsyncPostgresSaver):
    """The lock of AsyncPostgresSaver guards one shared connection. Over a pool each statement has a
    connection of its own, and the lock only queued every checkpoint read and write of the worker behind
    the one before: each turn in flight waited for the others' round trips."""

    @contextlib.asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
        if not isinstance(self.conn, AsyncConnectionPool) or self.pipe is not None:
            async with super()._cursor(pipeline=pipeline) as cursor:
                yield cursor
            return
        async with self.conn.connection() as conn:
            if pipeline and self.supports_pipeline:
                async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cursor:
                    yield cursor
            elif pipeline:
                async with conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cursor:
                    yield cursor
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cursor:
                    yield cursor
