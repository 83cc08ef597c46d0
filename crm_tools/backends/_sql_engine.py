"""Engines for the SQL store: URL forms, SQLite transaction modes, PostgreSQL schemas."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from crm_tools.backends._sql_schema import metadata
from crm_tools.errors import StoreURLError
from crm_tools.store import ACCEPTED_STORE_URLS

_WRITE = "crm_write"


def _refuse(url: str, why: str) -> StoreURLError:
    return StoreURLError(f"Cannot open CRM store '{url}': {why}. Accepted: {'; '.join(ACCEPTED_STORE_URLS)}")


@dataclass
class Store:
    """An engine plus how to run read and write transactions on it."""

    engine: Engine
    dialect: str
    memory: bool
    lock: threading.RLock | None  # an in-memory SQLite database is one connection shared by threads

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self._locked(), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        with self._locked(), self.engine.execution_options(**{_WRITE: True}).begin() as conn:
            yield conn

    def _locked(self) -> contextlib.AbstractContextManager[Any]:
        return self.lock if self.lock is not None else contextlib.nullcontext()


def _sqlite_engine(url: str, path: str | None) -> Engine:
    memory = path in (None, "", ":memory:")
    if memory:
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
        engine = create_engine(
            f"sqlite:///{Path(path).expanduser()}",  # type: ignore[arg-type]
            connect_args={"check_same_thread": False, "timeout": 30},
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own implicit transactions are switched off so that BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write must take the write lock up front: a deferred transaction that reads first and
        # then writes fails at once with SQLITE_BUSY when another process wrote meanwhile.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def open_store(url: str, *, schema: str | None = None) -> Store:
    if not isinstance(url, str) or not url.strip():
        raise _refuse(str(url), "no URL given")
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise _refuse(url, "not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema:
            raise _refuse(url, "schema= applies to PostgreSQL only")
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise _refuse(url, f"driver '{parsed.drivername}' is not supported")
        memory = parsed.database in (None, "", ":memory:")
        engine = _sqlite_engine(url, parsed.database)
        store = Store(engine, "sqlite", memory, threading.RLock() if memory else None)
    elif backend in ("postgresql", "postgres"):
        if parsed.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise _refuse(url, f"driver '{parsed.drivername}' is not supported (psycopg 3 is used)")
        engine = create_engine(parsed.set(drivername="postgresql+psycopg"), pool_size=5, max_overflow=10)
        if schema:
            with engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema.replace(chr(34), "")}"')
            engine = engine.execution_options(schema_translate_map={None: schema})
        store = Store(engine, "postgresql", False, None)
    else:
        raise _refuse(url, f"'{backend}' databases are not supported")
    _create_schema(store)
    return store


def _create_schema(store: Store) -> None:
    with store.write() as conn:
        if store.memory:
            metadata.create_all(conn, checkfirst=False)
            return
        if store.dialect == "postgresql":
            # Two processes opening a fresh database at once would both try to create the tables.
            conn.execute(text("SELECT pg_advisory_xact_lock(7243601)"))
        metadata.create_all(conn)
