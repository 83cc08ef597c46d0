"""The embedded CRM store: SQLite (file or memory) and PostgreSQL, through the DBAPI driver.

Statements are SQL text written once per shape (``_sql_statements``, ``_sql_filters``) with every
value a bound parameter; rows are shaped into records by per-object plans (``_sql_rows``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from crm_tools.backends._sql_engine import Store, open_store
from crm_tools.backends._sql_filters import SqlWriter
from crm_tools.backends._sql_rows import COLUMNS, INDEX, KINDS, db_row, db_value, nester, python_value
from crm_tools.backends._sql_statements import (
    EMAIL_HOLDER,
    IDEMPOTENCY_INSERT,
    IDEMPOTENCY_LOOKUP,
    placeholder,
    select_in,
    statements,
    update_statement,
)
from crm_tools.backends.base import ObjectName
from crm_tools.errors import CRMError, NotFoundError
from crm_tools.models import (
    DEFAULT_OPTIONS,
    OBJECTS,
    SelectOptions,
    flatten,
    object_spec,
    snake,
    validate_patch,
    validate_record,
)
from crm_tools.query import ListQuery, cursor_signature, encode_cursor, parse_depth, parse_list_query, walk

_SYSTEM_INPUTS = ("id", "createdAt", "updatedAt", "deletedAt")
_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PATTERN_COMPARATORS = {"like", "ilike", "startsWith", "endsWith", "containsAny"}
_WRITERS = {True: SqlWriter("sqlite"), False: SqlWriter("postgresql")}
_KEYS = {
    name: {op: f"{op}{name[0].upper()}{name[1:]}" for op in ("create", "update", "delete")}
    for name in OBJECTS
}


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None, microsecond=now.microsecond // 1000 * 1000)


def _new_id() -> str:
    """A random (version 4) UUID in canonical form, without building a ``uuid.UUID``."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _record_id(object_name: str, record_id: Any) -> str:
    if isinstance(record_id, str) and _CANONICAL_ID.fullmatch(record_id):
        return record_id
    try:
        return str(uuid.UUID(str(record_id).strip()))
    except ValueError:
        raise NotFoundError(
            f"No {object_name} with id '{record_id}': ids are UUIDs from list or create"
        ) from None


@lru_cache(maxsize=1)
def _tracking_script() -> str:
    lines = [
        "CREATE TABLE IF NOT EXISTS written_rows (object TEXT NOT NULL, id TEXT NOT NULL, "
        "PRIMARY KEY (object, id)) WITHOUT ROWID;"
    ]
    for name in OBJECTS:
        table = statements(name, True).table
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            lines.append(
                f"CREATE TRIGGER IF NOT EXISTS written_{name}_{event.lower()} AFTER {event} ON main.{table} "
                f"BEGIN INSERT OR IGNORE INTO written_rows VALUES ('{name}', {row}.id); END;"
            )
    return "\n".join(lines)


def _not_found(object_name: str, record_id: str) -> NotFoundError:
    return NotFoundError(
        f"No {object_name} with id '{record_id}'; list {OBJECTS[object_name].plural} to find ids"
    )


def _merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _merge_given(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``patch``, composites completed with their stored parts."""
    return {
        key: {**current[key], **value}
        if isinstance(value, dict) and isinstance(current.get(key), dict)
        else value
        for key, value in patch.items()
    }


class _ListPlan:
    """A parsed list query and its two statements, reusable for the same arguments."""

    __slots__ = (
        "count_params",
        "count_sql",
        "key_positions",
        "matches_patterns",
        "page_params",
        "page_sql",
        "query",
        "signature",
    )

    def __init__(self, query: ListQuery, sqlite: bool) -> None:
        writer = _WRITERS[sqlite]
        table = statements(query.object_name, sqlite).table
        params: list[Any] = []
        conditions = [] if query.include_deleted else ['"deleted_at" IS NULL']
        if query.filter is not None:
            conditions.append(writer.node(query.filter, params))
        where = " AND ".join(conditions) or "TRUE"
        self.query = query
        self.count_sql = f"SELECT count(*) FROM {table} WHERE {where}"
        self.count_params = tuple(params)
        keys, cursor = query.order_by, query.starting_after
        if query.ending_before is not None:
            # A backward page is a forward page in the reversed order, flipped back afterwards.
            keys = tuple(key.reversed() for key in keys)
            cursor = query.ending_before
        if cursor is not None:
            where = f"{where} AND {writer.after(keys, cursor, params)}"
        params.append(query.limit + 1)
        order = writer.order(keys)
        columns = statements(query.object_name, sqlite).columns
        limit = placeholder(sqlite)
        if sqlite:
            # Pick the page's ids first, then fetch their rows: the id pass can run on a covering
            # index, so only the rows of the page are read from the table.
            self.page_sql = (
                f'SELECT {columns} FROM {table} WHERE "id" IN '
                f'(SELECT "id" FROM {table} WHERE {where} ORDER BY {order} LIMIT {limit}) ORDER BY {order}'
            )
        else:
            # PostgreSQL would hash-join the id pass against the whole table; the plain form reads
            # only the matching rows.
            self.page_sql = f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT {limit}"
        self.page_params = tuple(params)
        self.signature = cursor_signature(query.order_by)
        self.matches_patterns = any(p.comparator in _PATTERN_COMPARATORS for p in walk(query.filter))
        self.key_positions = tuple(INDEX[query.object_name][key.leaf.column] for key in query.order_by)


@lru_cache(maxsize=1024)
def _cached_plan(sqlite: bool, object_name: str, options: SelectOptions, *args: Any) -> _ListPlan:
    filter, order_by, limit, starting_after, ending_before, depth = args
    query = parse_list_query(
        object_name,
        filter=filter,
        order_by=order_by,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        depth=depth,
        options=options,
    )
    return _ListPlan(query, sqlite)


def _list_plan(sqlite: bool, object_name: str, options: SelectOptions, *args: Any) -> _ListPlan:
    # The same list asked again (the next page of a walk, an agent repeating itself) skips parsing
    # and SQL writing; only plain hashable arguments are remembered, anything else is parsed anew.
    if object_name in OBJECTS and all(a is None or type(a) in (str, int) for a in args):
        return _cached_plan(sqlite, object_name, options, *args)
    return _cached_plan.__wrapped__(sqlite, object_name, options, *args)


class SqlBackend:
    """``CRMBackend`` over SQLite or PostgreSQL.

    ``url``: ``sqlite:///path``, ``sqlite://`` (memory) or ``postgresql[+psycopg]://...``;
    ``schema`` isolates the tables in a PostgreSQL schema (created if missing);
    ``options`` sets the opportunity stage and task status option lists;
    ``create=False`` opens an existing store only (no new file, no tables created);
    ``image`` (in-memory SQLite only): a database from ``image()`` to start from;
    ``new_id``: where the ids of created records come from (default: random UUIDs).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        options: SelectOptions = DEFAULT_OPTIONS,
        create: bool = True,
        image: bytes | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._store: Store = open_store(url, schema=schema, create=create, image=image)
        self._new_id = new_id or _new_id
        self._sqlite = self._store.sqlite
        self._p = placeholder(self._sqlite)
        self.options = options
        self.url = url

    @property
    def dialect(self) -> str:
        return self._store.dialect

    def image(self) -> bytes:
        """The in-memory database serialized: a fresh ``SqlBackend("sqlite://", image=...)`` copies it."""
        return self._store.image()

    def load(self, image: bytes | None, *, new_id: Callable[[], str] | None = None) -> None:
        """Start over from ``image`` (None: empty), as a new ``SqlBackend("sqlite://", image=...)`` would,
        without the cost of opening a connection.

        The statements prepared so far are kept (SQLite re-prepares them only when the schema version
        differs), so ``image`` must have the same schema, created the same way, as the database before.
        """
        self._store.load(image)
        self._new_id = new_id or _new_id

    def track_writes(self) -> None:
        """From now on, note the id of every row written (in-memory SQLite only; see ``written_ids``).

        Triggers see every write, the cascades of a delete included. They are part of the database, so
        an ``image()`` taken afterwards (before any write) starts every copy with an empty record at no
        cost per copy.
        """
        if not (self._sqlite and self._store.memory):
            raise ValueError("only an in-memory SQLite store tracks its writes")
        with self._store.connection() as conn:
            conn.executescript(_tracking_script())

    def forget_writes(self) -> None:
        """Start the record of written rows over (after seeding, say)."""
        with self._store.connection() as conn:
            conn.execute("DELETE FROM written_rows")

    def written_ids(self) -> dict[str, set[str]]:
        """``{object_name: ids}`` of the rows written since ``track_writes`` (or since the image was taken)."""
        written: dict[str, set[str]] = defaultdict(set)
        with self._store.connection() as conn:
            for object_name, record_id in conn.execute("SELECT object, id FROM written_rows"):
                written[object_name].add(record_id)
        return dict(written)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> SqlBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _snapshot(self) -> Any:
        """Where several reads must agree: a read transaction on a SQLite file (WAL snapshot).

        An in-memory database is held under its lock for the whole block, and PostgreSQL's default
        READ COMMITTED would give each statement its own snapshot anyway, so both just borrow a
        connection.
        """
        if self._sqlite and not self._store.memory:
            return self._store.transaction(write=False)
        return self._store.connection()

    def _writing(self, *, atomic: bool, single: bool = False) -> Any:
        """A write block.

        A single statement is atomic on its own and needs no transaction anywhere. Several
        statements on a SQLite file take the write lock up front (other processes may write too). An
        in-memory database (held under its lock for the whole block) and PostgreSQL open a
        transaction only where the statements must land together (``atomic``).
        """
        if single:
            return self._store.connection(write=True)
        if atomic or (self._sqlite and not self._store.memory):
            return self._store.transaction(write=True)
        return self._store.connection(write=True)

    # -- list ---------------------------------------------------------------------------------

    def list(
        self,
        object_name: ObjectName,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        limit: int | str | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        depth: int | str = 0,
    ) -> dict[str, Any]:
        plan = _list_plan(
            self._sqlite,
            object_name,
            self.options,
            filter,
            order_by,
            limit,
            starting_after,
            ending_before,
            depth,
        )
        query = plan.query
        spec = OBJECTS[object_name]
        nest = nester(object_name, self._sqlite)
        with self._snapshot() as conn:
            total = self._query(conn, plan, plan.count_sql, plan.count_params).fetchone()[0]
            rows = self._query(conn, plan, plan.page_sql, plan.page_params).fetchall()
            more = len(rows) > query.limit
            if more:
                del rows[query.limit :]
            if query.ending_before is not None:
                rows.reverse()
            records = [nest(row) for row in rows]
            if query.depth:
                self._embed(conn, object_name, rows, records)
        backward = query.ending_before is not None
        return {
            "data": {spec.plural: records},
            "totalCount": total,
            "pageInfo": {
                "hasNextPage": True if backward else more,
                "hasPreviousPage": more if backward else query.starting_after is not None,
                "startCursor": self._cursor(plan, rows[0]) if rows else None,
                "endCursor": self._cursor(plan, rows[-1]) if rows else None,
            },
        }

    def _query(self, conn: Any, plan: _ListPlan, sql: str, params: tuple[Any, ...]) -> Any:
        if self._sqlite or not plan.matches_patterns:
            return conn.execute(sql, params)
        # Unprepared, so PostgreSQL plans the list with its values: a generic plan of
        # ``lower(name) LIKE $1`` cannot use the prefix index, a plan for 'ac%' can.
        return conn.execute(sql, params, prepare=False)

    def _cursor(self, plan: _ListPlan, row: tuple[Any, ...]) -> str:
        query, kinds = plan.query, KINDS[plan.query.object_name]
        values = [
            python_value(kinds[position], row[position], self._sqlite) for position in plan.key_positions
        ]
        return encode_cursor(query.order_by, tuple(values), plan.signature)

    def _embed(
        self, conn: Any, object_name: str, rows: list[tuple[Any, ...]], records: list[dict[str, Any]]
    ) -> None:
        spec = OBJECTS[object_name]
        index = INDEX[object_name]
        for name, rel in spec.many_to_one.items():
            position = index[snake(rel.column_path)]
            ids = sorted({row[position] for row in rows if row[position] is not None})
            nest = nester(rel.target, self._sqlite)
            found = self._live_rows(conn, rel.target, "id", ids)
            by_id = {row[0]: nest(row) for row in found}
            for row, record in zip(rows, records, strict=True):
                record[name] = by_id.get(row[position])
        ids = [row[0] for row in rows]
        for name, rel in spec.one_to_many.items():
            column = snake(rel.column_path)
            position = INDEX[rel.source][column]
            nest = nester(rel.source, self._sqlite)
            grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in self._live_rows(conn, rel.source, column, ids):
                grouped[row[position]].append(nest(row))
            for record in records:
                record[name] = grouped.get(record["id"], [])

    def _live_rows(self, conn: Any, object_name: str, column: str, values: list[Any]) -> list[Any]:
        if not values:
            return []
        return conn.execute(select_in(object_name, self._sqlite, column, len(values)), values).fetchall()

    # -- get ----------------------------------------------------------------------------------

    def get(self, object_name: ObjectName, record_id: str, *, depth: int | str = 0) -> dict[str, Any]:
        object_spec(object_name)
        depth = 0 if depth == 0 else parse_depth(depth)
        record_id = _record_id(object_name, record_id)
        sql = statements(object_name, self._sqlite).get_live
        if not depth:
            with self._store.connection() as conn:
                row = conn.execute(sql, (record_id,)).fetchone()
            if row is None:
                raise _not_found(object_name, record_id)
            return {"data": {object_name: nester(object_name, self._sqlite)(row)}}
        with self._snapshot() as conn:
            row = conn.execute(sql, (record_id,)).fetchone()
            if row is None:
                raise _not_found(object_name, record_id)
            record = nester(object_name, self._sqlite)(row)
            self._embed(conn, object_name, [row], [record])
        return {"data": {object_name: record}}

    # -- create -------------------------------------------------------------------------------

    def create(
        self, object_name: ObjectName, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        object_spec(object_name)
        if idempotency_key is not None and (not isinstance(idempotency_key, str) or not idempotency_key):
            raise CRMError("idempotency_key must be a non-empty string")
        record = validate_record(object_name, data, self.options)
        row = flatten(object_name, record)
        now = _now()
        row["id"] = row.get("id") or self._new_id()
        row["created_at"] = row.get("created_at") or now
        row["updated_at"] = row["created_at"] if record.createdAt is not None else now
        row["deleted_at"] = None
        if row.get("position") is None:
            row["position"] = row["created_at"].replace(tzinfo=UTC).timestamp()
        values = db_row(object_name, row, self._sqlite)
        key = _KEYS[object_name]["create"]
        references = self._references(object_name, row)
        s = statements(object_name, self._sqlite)
        try:
            # A lone INSERT needs no transaction: the constraints check ids and emails, and a
            # conflict is explained afterwards. References to soft-deleted records and keys need reads
            # first, so those run in one write transaction.
            atomic = bool(references) or idempotency_key is not None
            with self._writing(atomic=atomic, single=not atomic) as conn:
                if idempotency_key is not None:
                    existing = self._keyed(conn, object_name, idempotency_key)
                    if existing is not None:
                        return {"data": {key: existing}}
                self._check_references(conn, references)
                if idempotency_key is not None:
                    # The key row goes first: a concurrent writer with the same key blocks on it
                    # and then fails on the primary key, before writing anything of its own.
                    conn.execute(
                        IDEMPOTENCY_INSERT.format(p=self._p),
                        (object_name, idempotency_key, row["id"], db_value(now, self._sqlite)),
                    )
                conn.execute(s.insert, values)
        except self._store.integrity_error:
            if idempotency_key is not None:
                with self._store.connection() as conn:
                    existing = self._keyed(conn, object_name, idempotency_key)
                if existing is not None:
                    return {"data": {key: existing}}
            raise self._explain_conflict(object_name, row, new=True) from None
        return {"data": {key: nester(object_name, self._sqlite)(values)}}

    def _keyed(self, conn: Any, object_name: str, key: str) -> dict[str, Any] | None:
        found = conn.execute(IDEMPOTENCY_LOOKUP.format(p=self._p), (object_name, key)).fetchone()
        if found is None:
            return None
        row = conn.execute(statements(object_name, self._sqlite).get_any, (found[0],)).fetchone()
        if row is None:
            raise _not_found(object_name, found[0])
        return nester(object_name, self._sqlite)(row)

    def _references(self, object_name: str, row: dict[str, Any]) -> list[tuple[str, str, str]]:
        """``(join column path, target object, target id)`` of each reference the row sets."""
        found = []
        for rel in OBJECTS[object_name].many_to_one.values():
            target_id = row.get(snake(rel.column_path))
            if target_id is not None:
                found.append((rel.column_path, rel.target, target_id))
        return found

    def _check_references(self, conn: Any, references: list[tuple[str, str, str]]) -> None:
        # Foreign keys only see rows, not soft deletion: a deleted target must be refused here.
        for column_path, target, target_id in references:
            if conn.execute(statements(target, self._sqlite).exists_live, (target_id,)).fetchone() is None:
                raise CRMError(
                    f"'{column_path}' invalid: no {target} with id '{target_id}'; "
                    f"give the id of an existing {target}",
                    code="INVALID_REFERENCE",
                )

    def _explain_conflict(self, object_name: str, row: dict[str, Any], *, new: bool) -> CRMError:
        """The message for a constraint the database refused: a taken email, or a taken id."""
        email = row.get("emails_primary_email")
        with self._store.connection() as conn:
            if object_name == "person" and email:
                holder = conn.execute(EMAIL_HOLDER.format(p=self._p), (email.lower(), row["id"])).fetchone()
                if holder is not None or not new:
                    return self._conflict(object_name, row, holder[0] if holder else None)
            if new and conn.execute(statements(object_name, self._sqlite).get_any, (row["id"],)).fetchone():
                return CRMError(
                    f"A {object_name} with id '{row['id']}' already exists; omit id to get a new one"
                )
        return self._conflict(object_name, row)

    def _conflict(self, object_name: str, row: dict[str, Any], other: str | None = None) -> CRMError:
        if object_name == "person" and row.get("emails_primary_email"):
            holder = f" ({other})" if other else ""
            return CRMError(
                f"'emails.primaryEmail' invalid: a person with email '{row['emails_primary_email']}' already "
                f"exists{holder}; emails are unique (case-insensitive). Update that person or use another email",
                code="DUPLICATE_EMAIL",
            )
        return CRMError(f"The {object_name} conflicts with an existing record", code="CONFLICT")

    # -- update -------------------------------------------------------------------------------

    def update(self, object_name: ObjectName, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        object_spec(object_name)
        record_id = _record_id(object_name, record_id)
        if not isinstance(data, dict):
            raise CRMError(
                f"Invalid {object_name}: expected an object of fields, received {type(data).__name__}"
            )
        fixed = [key for key in data if key in _SYSTEM_INPUTS]
        if fixed:
            raise CRMError(f"'{fixed[0]}' cannot be updated; change the record's own fields only")
        if not any(isinstance(value, dict) for value in data.values()):
            # Plain values need nothing stored to be validated: one UPDATE ... RETURNING does it all.
            try:
                given = validate_patch(object_name, data, self.options)
            except CRMError:
                self._require_live(object_name, record_id)  # an unknown record is reported first
                raise
            if given is not None and not self._references(object_name, given):
                return self._update_given(object_name, record_id, given)
        s = statements(object_name, self._sqlite)
        nest = nester(object_name, self._sqlite)
        columns, index = COLUMNS[object_name], INDEX[object_name]
        changed: dict[str, Any] = {}
        try:
            with self._writing(atomic=False) as conn:
                current = conn.execute(s.get_live, (record_id,)).fetchone()
                if current is None:
                    raise _not_found(object_name, record_id)
                stored = nest(current)
                flat = validate_patch(object_name, _merge_given(stored, data), self.options)
                if flat is None:
                    editable = {k: v for k, v in stored.items() if k not in _SYSTEM_INPUTS}
                    flat = flatten(
                        object_name, validate_record(object_name, _merge(editable, data), self.options)
                    )
                for column, value in flat.items():
                    if column in ("id", "created_at"):
                        continue
                    value = db_value(value, self._sqlite)
                    if current[index[column]] != value:
                        changed[column] = value
                self._check_references(
                    conn, [ref for ref in self._references(object_name, flat) if snake(ref[0]) in changed]
                )
                now = db_value(_now(), self._sqlite)
                names = tuple(changed)
                cursor = conn.execute(
                    update_statement(object_name, self._sqlite, names), (*changed.values(), now, record_id)
                )
                if cursor.rowcount == 0:  # deleted between the read and the write
                    raise _not_found(object_name, record_id)
        except self._store.integrity_error:
            raise self._explain_conflict(object_name, {**changed, "id": record_id}, new=False) from None
        updated = list(current)
        for column, value in changed.items():
            updated[index[column]] = value
        updated[index["updated_at"]] = now
        assert len(updated) == len(columns)
        return {"data": {_KEYS[object_name]["update"]: nest(tuple(updated))}}

    def _update_given(self, object_name: str, record_id: str, flat: dict[str, Any]) -> dict[str, Any]:
        values = {column: db_value(value, self._sqlite) for column, value in flat.items()}
        values.pop("id", None)
        values.pop("created_at", None)
        sql = update_statement(object_name, self._sqlite, tuple(values), returning=True)
        try:
            with self._writing(atomic=False, single=True) as conn:
                # fetchall: SQLite finishes a RETURNING statement only once its rows are read.
                rows = conn.execute(
                    sql, (*values.values(), db_value(_now(), self._sqlite), record_id)
                ).fetchall()
        except self._store.integrity_error:
            raise self._explain_conflict(object_name, {**values, "id": record_id}, new=False) from None
        if not rows:
            raise _not_found(object_name, record_id)
        return {"data": {_KEYS[object_name]["update"]: nester(object_name, self._sqlite)(rows[0])}}

    def _require_live(self, object_name: str, record_id: str) -> None:
        with self._store.connection() as conn:
            if (
                conn.execute(statements(object_name, self._sqlite).exists_live, (record_id,)).fetchone()
                is None
            ):
                raise _not_found(object_name, record_id)

    # -- delete -------------------------------------------------------------------------------

    def delete(self, object_name: ObjectName, record_id: str) -> dict[str, Any]:
        object_spec(object_name)
        record_id = _record_id(object_name, record_id)
        s = statements(object_name, self._sqlite)
        now = db_value(_now(), self._sqlite)
        with self._writing(atomic=True) as conn:
            if conn.execute(s.soft_delete, (now, now, record_id)).rowcount == 0:
                raise _not_found(object_name, record_id)
            for sql, with_now in s.cascades:
                conn.execute(sql, (now, record_id) if with_now else (record_id,))
        return {"data": {_KEYS[object_name]["delete"]: {"id": record_id}}}
