"""Connections for the SQL store: URL forms, SQLite transaction modes, PostgreSQL schemas.

The store talks to the DBAPI driver directly (``sqlite3``, ``psycopg``) with SQL text built once
per statement shape: SQLAlchemy's per-call statement construction, compilation lookup and result
machinery cost several times the query itself on the hot paths. SQLAlchemy still creates the
schema of durable stores (``metadata.create_all``) and stays available as ``Store.engine``.

Every connection runs in autocommit mode; a transaction is an explicit BEGIN ... COMMIT, opened
only where several statements must see or change the data together.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, create_mock_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.schema import CreateIndex

from converso.storage.sqlite_writers import SqliteWriters, writers_of
from crm_tools.backends._case_fold import register_fold
from crm_tools.backends._sql_schema import FOLD_INDEXES, metadata
from crm_tools.errors import ACCEPTED_STORE_URLS, StoreUnavailableError, StoreURLError

_SQLITE_PRAGMAS = ("PRAGMA foreign_keys=ON",)
_SQLITE_FILE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")


def _refuse(url: str, why: str) -> StoreURLError:
    return StoreURLError(f"Cannot open CRM store '{url}': {why}. Accepted: {'; '.join(ACCEPTED_STORE_URLS)}")


def sqlite_datetime(value: datetime) -> str:
    """The text form SQLAlchemy stores SQLite date-times in, kept so older files stay readable."""
    return value.isoformat(" ", "microseconds")


@cache
def sqlite_ddl() -> str:
    """The whole SQLite schema as one script, compiled once per process for in-memory stores."""
    statements: list[str] = []

    def collect(sql: Any, *args: Any, **kwargs: Any) -> None:
        statements.append(str(sql.compile(dialect=mock.dialect)).strip())

    mock = create_mock_engine("sqlite://", collect)
    metadata.create_all(mock, checkfirst=False)  # type: ignore[arg-type]
    return ";\n".join(statements) + ";"


@dataclass
class Store:
    """Where the rows live and how to borrow a connection and run a transaction on it."""

    dialect: str  # "sqlite" | "postgresql"
    memory: bool
    engine: Engine | None  # None for in-memory SQLite, which needs no SQLAlchemy at all
    _connect: Any = None
    _shared: Any = None  # the one connection of an in-memory database
    _lock: threading.RLock | None = None
    # A SQLite file's writers queue here rather than in SQLite's sleeping busy handler.
    _writers: SqliteWriters | None = None
    _idle: list[Any] = field(default_factory=list)
    _closed: bool = False

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def integrity_error(self) -> type[Exception]:
        if self.sqlite:
            return sqlite3.IntegrityError
        import psycopg

        return psycopg.IntegrityError

    @contextlib.contextmanager
    def connection(self, *, write: bool = False) -> Iterator[Any]:
        """A DBAPI connection in autocommit mode, for statements that stand alone (``write``: that
        write, or a write transaction the caller runs on it)."""
        if write and self._writers is not None:
            with self._writers.turn(), self.connection() as conn:
                yield conn
            return
        if self._shared is not None:
            assert self._lock is not None
            with self._lock:
                yield self._shared
            return
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._connect()
        healthy = False
        try:
            yield conn
            healthy = True
        finally:
            if healthy or self._usable(conn):
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)
            else:
                conn.close()

    def _usable(self, conn: Any) -> bool:
        if self.sqlite:
            return not conn.in_transaction
        return not conn.closed and not conn.broken and conn.info.transaction_status == 0  # IDLE

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[Any]:
        """BEGIN ... COMMIT; rolled back when the block raises.

        A SQLite write takes the write lock up front (BEGIN IMMEDIATE): a deferred transaction that
        reads first and then writes fails at once with SQLITE_BUSY when another process wrote meanwhile.
        A read is a plain deferred BEGIN, which in WAL mode is a consistent snapshot.
        """
        with self.connection(write=write) as conn:
            conn.execute("BEGIN IMMEDIATE" if write and self.sqlite else "BEGIN")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def image(self) -> bytes:
        """The whole database serialized, for an in-memory SQLite store to start others from."""
        if self._shared is None:
            raise ValueError("only an in-memory SQLite store can be serialized")
        with self.connection() as conn:
            return conn.serialize()

    def load(self, image: bytes | None) -> None:
        """Replace the whole in-memory database with ``image`` (None: an empty CRM)."""
        if self._shared is None:
            raise ValueError("only an in-memory SQLite store can be loaded from an image")
        with self.connection() as conn:
            conn.deserialize(_empty_database_image() if image is None else image)

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        if self._shared is not None:
            self._shared.close()
        if self.engine is not None:
            self.engine.dispose()


def _add_missing_indexes(conn: Any, dialect: str) -> None:
    """Indexes added since a store was made: ``create_all`` adds indexes only with their table."""
    for index in FOLD_INDEXES[dialect]:
        conn.execute(CreateIndex(index, if_not_exists=True))


def _sqlite_file_connection(path: str) -> sqlite3.Connection:
    # isolation_level=None: the driver's implicit transactions are off, so BEGIN is ours to emit.
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    register_fold(conn)
    for pragma in _SQLITE_PRAGMAS + _SQLITE_FILE_PRAGMAS:
        conn.execute(pragma)
    return conn


def _sqlite_engine(path: str) -> Engine:
    """The SQLAlchemy engine of a SQLite file, for schema creation and bulk loading by benchmarks."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        register_fold(dbapi_conn)
        for pragma in _SQLITE_PRAGMAS + _SQLITE_FILE_PRAGMAS:
            dbapi_conn.execute(pragma)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@cache
def _empty_database_image() -> bytes:
    conn = sqlite3.connect(":memory:")
    register_fold(conn)
    conn.executescript(sqlite_ddl())
    image = conn.serialize()
    conn.close()
    return image


def _open_memory(image: bytes | None = None) -> Store:
    # An episode server opens one of these per session: loading a prebuilt database (empty, or a
    # seeded one from ``image``) is about 40 times cheaper than running the schema script again.
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)  # BEGIN is ours
    conn.deserialize(_empty_database_image() if image is None else image)
    register_fold(conn)
    for pragma in _SQLITE_PRAGMAS:
        conn.execute(pragma)
    return Store("sqlite", True, None, _shared=conn, _lock=threading.RLock())


def _open_sqlite_file(database: str, create: bool) -> Store:
    path = Path(database).expanduser()
    if not create and not path.is_file():
        raise StoreUnavailableError(
            f"No CRM store at {path}: the file does not exist. Give the path of an existing store "
            "(sqlite:///PATH) or a postgresql:// URL."
        )
    engine = _sqlite_engine(str(path))
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            with engine.begin() as conn:
                metadata.create_all(conn)
                _add_missing_indexes(conn, "sqlite")
        else:
            with engine.connect() as conn:
                _require_tables(conn, f"{path}")
    except (OperationalError, OSError) as exc:
        engine.dispose()
        cause = exc.orig if isinstance(exc, OperationalError) else exc
        raise StoreUnavailableError(f"Cannot open the CRM store {path}: {str(cause).rstrip('.')}.") from exc
    return Store(
        "sqlite",
        False,
        engine,
        _connect=lambda: _sqlite_file_connection(str(path)),
        _writers=writers_of(path),
    )


def _open_postgres(parsed: Any, schema: str | None, create: bool) -> Store:
    engine = create_engine(parsed.set(drivername="postgresql+psycopg"), pool_size=5, max_overflow=10)
    try:
        return _postgres_store(engine, schema, create, parsed.render_as_string(hide_password=True))
    except OperationalError as exc:
        engine.dispose()
        where = parsed.render_as_string(hide_password=True)
        cause = " ".join(str(exc.orig).split()).rstrip(".?")
        raise StoreUnavailableError(
            f"Cannot reach the CRM database {where}: {cause}. Check that PostgreSQL runs there and "
            "accepts this user."
        ) from exc


def _postgres_store(engine: Engine, schema: str | None, create: bool, where: str) -> Store:
    import psycopg

    quoted = f'"{schema.replace(chr(34), "")}"' if schema else None
    if quoted:
        if create:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        engine = engine.execution_options(schema_translate_map={None: schema})
    with engine.begin() as conn:
        if create:
            # Two processes opening a fresh database at once would both try to create the tables.
            conn.execute(text("SELECT pg_advisory_xact_lock(7243601)"))
            metadata.create_all(conn)
            _add_missing_indexes(conn, "postgresql")
        else:
            _require_tables(conn, where, schema)
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    kwargs.pop("context", None)  # SQLAlchemy's own type adapters; plain psycopg types are wanted here

    def connect() -> Any:
        conn = psycopg.connect(**kwargs, autocommit=True)
        if quoted:
            conn.execute(f"SET search_path TO {quoted}")
        return conn

    return Store("postgresql", False, engine, _connect=connect)


def _require_tables(conn: Any, where: str, schema: str | None = None) -> None:
    # A read-only open must not create the schema, so an empty database is reported instead.
    from sqlalchemy import inspect

    if not inspect(conn).has_table("companies", schema=schema):
        raise StoreUnavailableError(
            f"{where} holds no CRM (no companies table); give the URL of a CRM store."
        )


def open_store(
    url: str, *, schema: str | None = None, create: bool = True, image: bytes | None = None
) -> Store:
    """Open the store at ``url``; ``create=False`` (read-only commands) refuses to create the file or
    the tables, so a mistyped path is an error instead of a new empty CRM; ``image``: the serialized
    database an in-memory SQLite store starts from."""
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
        if image is not None and parsed.database not in (None, "", ":memory:"):
            raise _refuse(url, "image= applies to in-memory SQLite only")
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise _refuse(url, f"driver '{parsed.drivername}' is not supported")
        if parsed.database in (None, "", ":memory:"):
            return _open_memory(image)
        return _open_sqlite_file(parsed.database, create)
    if backend in ("postgresql", "postgres"):
        if image is not None:
            raise _refuse(url, "image= applies to in-memory SQLite only")
        if parsed.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise _refuse(url, f"driver '{parsed.drivername}' is not supported (psycopg 3 is used)")
        return _open_postgres(parsed, schema, create)
    raise _refuse(url, f"'{backend}' databases are not supported")
