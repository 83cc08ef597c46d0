"""The fixed SQL statements of each object, written once per dialect.

Only the statements whose text depends on the call (filters, pages, the columns an update
changes) are written per call, by ``_sql_filters.SqlWriter`` and ``update_statement``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from crm_tools.backends._sql_filters import q
from crm_tools.backends._sql_rows import COLUMNS
from crm_tools.models import OBJECTS, snake


@dataclass(frozen=True)
class Statements:
    table: str  # quoted
    columns: str  # the select list, in COLUMNS order
    get_live: str
    get_any: str
    exists_live: str
    insert: str
    soft_delete: str
    # What deleting a record of this object does to the rows pointing at it: (sql, with_now).
    cascades: tuple[tuple[str, bool], ...]


def placeholder(sqlite: bool) -> str:
    return "?" if sqlite else "%s"


@cache
def statements(name: str, sqlite: bool) -> Statements:
    p = placeholder(sqlite)
    table = q(OBJECTS[name].table)
    columns = ", ".join(q(c) for c in COLUMNS[name])
    cascades: list[tuple[str, bool]] = []
    for spec in OBJECTS.values():
        for rel in spec.many_to_one.values():
            if rel.target != name:
                continue
            source, column = q(spec.table), q(snake(rel.column_path))
            if spec.name in ("noteTarget", "taskTarget"):
                cascades.append((f"DELETE FROM {source} WHERE {column} = {p}", False))
            else:
                cascades.append(
                    (f'UPDATE {source} SET {column} = NULL, "updated_at" = {p} WHERE {column} = {p}', True)
                )
    return Statements(
        table=table,
        columns=columns,
        get_live=f'SELECT {columns} FROM {table} WHERE "id" = {p} AND "deleted_at" IS NULL',
        get_any=f'SELECT {columns} FROM {table} WHERE "id" = {p}',
        exists_live=f'SELECT 1 FROM {table} WHERE "id" = {p} AND "deleted_at" IS NULL',
        insert=f"INSERT INTO {table} ({columns}) VALUES ({', '.join(p for _ in COLUMNS[name])})",
        soft_delete=(
            f'UPDATE {table} SET "deleted_at" = {p}, "updated_at" = {p} '
            f'WHERE "id" = {p} AND "deleted_at" IS NULL'
        ),
        cascades=tuple(cascades),
    )


@lru_cache(maxsize=512)
def update_statement(name: str, sqlite: bool, changed: tuple[str, ...], *, returning: bool = False) -> str:
    """``UPDATE`` of just the ``changed`` columns (and ``updated_at``) of one live row."""
    p = placeholder(sqlite)
    assignments = ", ".join(f"{q(column)} = {p}" for column in (*changed, "updated_at"))
    s = statements(name, sqlite)
    sql = f'UPDATE {s.table} SET {assignments} WHERE "id" = {p} AND "deleted_at" IS NULL'
    return f"{sql} RETURNING {s.columns}" if returning else sql


def select_in(name: str, sqlite: bool, column: str, count: int) -> str:
    """Live rows of ``name`` whose ``column`` is one of ``count`` values, by id."""
    p = placeholder(sqlite)
    s = statements(name, sqlite)
    values = ", ".join(p for _ in range(count))
    return f'SELECT {s.columns} FROM {s.table} WHERE {q(column)} IN ({values}) AND "deleted_at" IS NULL ORDER BY "id"'


IDEMPOTENCY_LOOKUP = 'SELECT "record_id" FROM "idempotency_keys" WHERE "object_name" = {p} AND "key" = {p}'
IDEMPOTENCY_INSERT = 'INSERT INTO "idempotency_keys" ("object_name", "key", "record_id", "created_at") VALUES ({p}, {p}, {p}, {p})'
EMAIL_HOLDER = (
    'SELECT "id" FROM "people" WHERE "emails_primary_email" = {p} AND "deleted_at" IS NULL AND "id" <> {p}'
)
