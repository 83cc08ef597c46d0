"""The embedded CRM store on SQLAlchemy Core: SQLite (file or memory) and PostgreSQL."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from crm_tools.backends._sql_engine import open_store
from crm_tools.backends._sql_filters import FilterCompiler
from crm_tools.backends._sql_schema import TABLES, idempotency_keys
from crm_tools.backends.base import ObjectName
from crm_tools.errors import CRMError, NotFoundError
from crm_tools.models import (
    DEFAULT_OPTIONS,
    OBJECTS,
    ObjectSpec,
    SelectOptions,
    flatten,
    nest,
    object_spec,
    snake,
    validate_record,
)
from crm_tools.query import ListQuery, encode_cursor, parse_depth, parse_list_query

_SYSTEM_INPUTS = ("id", "createdAt", "updatedAt", "deletedAt")


def _now() -> datetime:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _title(object_name: str) -> str:
    return object_name[0].upper() + object_name[1:]


def _record_id(object_name: str, record_id: Any) -> str:
    try:
        return str(uuid.UUID(str(record_id).strip()))
    except ValueError:
        raise NotFoundError(
            f"No {object_name} with id '{record_id}': ids are UUIDs from list or create"
        ) from None


def _merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


class SqlBackend:
    """``CRMBackend`` over SQLite or PostgreSQL.

    ``url``: ``sqlite:///path``, ``sqlite://`` (memory) or ``postgresql[+psycopg]://...``;
    ``schema`` isolates the tables in a PostgreSQL schema (created if missing);
    ``options`` sets the opportunity stage and task status option lists.
    """

    def __init__(
        self, url: str, *, schema: str | None = None, options: SelectOptions = DEFAULT_OPTIONS
    ) -> None:
        self._store = open_store(url, schema=schema)
        self._compiler = FilterCompiler(self._store.dialect)
        self.options = options
        self.url = url

    @property
    def dialect(self) -> str:
        return self._store.dialect

    def close(self) -> None:
        self._store.engine.dispose()

    def __enter__(self) -> SqlBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        query = parse_list_query(
            object_name,
            filter=filter,
            order_by=order_by,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            depth=depth,
            options=self.options,
        )
        spec = OBJECTS[object_name]
        table = TABLES[object_name]
        with self._store.read() as conn:
            total, rows, more = self._page(conn, table, query)
            records = [nest(object_name, row) for row in rows]
            if query.depth:
                self._embed(conn, spec, rows, records)
        # Only the first and last rows' cursors are ever shown (pageInfo).
        ends = [rows[0], rows[-1]] if rows else []
        cursors = [
            encode_cursor(query.order_by, tuple(row[k.leaf.column] for k in query.order_by)) for row in ends
        ]
        backward = query.ending_before is not None
        return {
            "data": {spec.plural: records},
            "totalCount": total,
            "pageInfo": {
                "hasNextPage": True if backward else more,
                "hasPreviousPage": more if backward else query.starting_after is not None,
                "startCursor": cursors[0] if cursors else None,
                "endCursor": cursors[-1] if cursors else None,
            },
        }

    def _page(self, conn: Connection, table: Table, query: ListQuery) -> tuple[int, list[Row], bool]:
        conditions = [] if query.include_deleted else [table.c.deleted_at.is_(None)]
        if query.filter is not None:
            conditions.append(self._compiler.node(table, query.filter))
        total = conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
        keys = query.order_by
        cursor = query.starting_after
        if query.ending_before is not None:
            # A backward page is a forward page in the reversed order, flipped back afterwards.
            keys = tuple(key.reversed() for key in keys)
            cursor = query.ending_before
        if cursor is not None:
            conditions.append(self._compiler.after(table, keys, cursor))
        order = self._compiler.order(table, keys)
        # Pick the page's ids first, then fetch their rows: the id pass can run on a covering
        # index, so only the rows of the page are read from the table.
        page_ids = select(table.c.id).where(*conditions).order_by(*order).limit(query.limit + 1)
        statement = select(table).where(table.c.id.in_(page_ids)).order_by(*order)
        rows = list(conn.execute(statement).mappings())
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        if query.ending_before is not None:
            rows.reverse()
        return total, rows, more

    def _embed(
        self, conn: Connection, spec: ObjectSpec, rows: list[Any], records: list[dict[str, Any]]
    ) -> None:
        for name, rel in spec.many_to_one.items():
            column = snake(rel.column_path)
            ids = {row[column] for row in rows if row[column] is not None}
            found = self._live_rows(conn, rel.target, TABLES[rel.target].c.id, ids)
            by_id = {row["id"]: nest(rel.target, row) for row in found}
            for row, record in zip(rows, records, strict=True):
                record[name] = by_id.get(row[column])
        ids = [row["id"] for row in rows]
        for name, rel in spec.one_to_many.items():
            column = snake(rel.column_path)
            source = TABLES[rel.source]
            grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in self._live_rows(conn, rel.source, source.c[column], ids):
                grouped[row[column]].append(nest(rel.source, row))
            for record in records:
                record[name] = grouped.get(record["id"], [])

    def _live_rows(self, conn: Connection, object_name: str, column: Any, values: Any) -> list[Any]:
        if not values:
            return []
        table = TABLES[object_name]
        statement = (
            select(table).where(column.in_(list(values)), table.c.deleted_at.is_(None)).order_by(table.c.id)
        )
        return list(conn.execute(statement).mappings())

    # -- get ----------------------------------------------------------------------------------

    def get(self, object_name: ObjectName, record_id: str, *, depth: int | str = 0) -> dict[str, Any]:
        spec = object_spec(object_name)
        depth = parse_depth(depth)
        record_id = _record_id(object_name, record_id)
        with self._store.read() as conn:
            row = self._fetch(conn, object_name, record_id)
            record = nest(object_name, row)
            if depth:
                self._embed(conn, spec, [row], [record])
        return {"data": {object_name: record}}

    def _fetch(self, conn: Connection, object_name: str, record_id: str, *, deleted: bool = False) -> Any:
        table = TABLES[object_name]
        statement = select(table).where(table.c.id == record_id)
        if not deleted:
            statement = statement.where(table.c.deleted_at.is_(None))
        row = conn.execute(statement).mappings().first()
        if row is None:
            raise NotFoundError(
                f"No {object_name} with id '{record_id}'; list {OBJECTS[object_name].plural} to find ids"
            )
        return row

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
        row["id"] = row.get("id") or str(uuid.uuid4())
        row["created_at"] = row.get("created_at") or now
        row["updated_at"] = row["created_at"] if record.createdAt is not None else now
        row["deleted_at"] = None
        if row.get("position") is None:
            row["position"] = row["created_at"].replace(tzinfo=UTC).timestamp()
        try:
            with self._store.write() as conn:
                if idempotency_key is not None:
                    existing = self._keyed(conn, object_name, idempotency_key)
                    if existing is not None:
                        return {"data": {f"create{_title(object_name)}": existing}}
                self._check_references(conn, object_name, row)
                self._check_unique(conn, object_name, row)
                if conn.execute(
                    select(TABLES[object_name].c.id).where(TABLES[object_name].c.id == row["id"])
                ).first():
                    raise CRMError(
                        f"A {object_name} with id '{row['id']}' already exists; omit id to get a new one"
                    )
                if idempotency_key is not None:
                    # The key row goes first: a concurrent writer with the same key blocks on it
                    # and then fails on the primary key, before writing anything of its own.
                    conn.execute(
                        idempotency_keys.insert().values(
                            object_name=object_name, key=idempotency_key, record_id=row["id"], created_at=now
                        )
                    )
                conn.execute(TABLES[object_name].insert().values(**row))
                created = nest(object_name, row)
        except IntegrityError:
            if idempotency_key is not None:
                with self._store.read() as conn:
                    existing = self._keyed(conn, object_name, idempotency_key)
                if existing is not None:
                    return {"data": {f"create{_title(object_name)}": existing}}
            raise self._conflict(object_name, row) from None
        return {"data": {f"create{_title(object_name)}": created}}

    def _keyed(self, conn: Connection, object_name: str, key: str) -> dict[str, Any] | None:
        found = conn.execute(
            select(idempotency_keys.c.record_id).where(
                idempotency_keys.c.object_name == object_name, idempotency_keys.c.key == key
            )
        ).first()
        if found is None:
            return None
        return nest(object_name, self._fetch(conn, object_name, found.record_id, deleted=True))

    def _check_references(self, conn: Connection, object_name: str, row: dict[str, Any]) -> None:
        for rel in OBJECTS[object_name].many_to_one.values():
            target_id = row.get(snake(rel.column_path))
            if target_id is None:
                continue
            target = TABLES[rel.target]
            live = select(target.c.id).where(target.c.id == target_id, target.c.deleted_at.is_(None))
            if conn.execute(live).first() is None:
                raise CRMError(
                    f"'{rel.column_path}' invalid: no {rel.target} with id '{target_id}'; "
                    f"give the id of an existing {rel.target}",
                    code="INVALID_REFERENCE",
                )

    def _check_unique(self, conn: Connection, object_name: str, row: dict[str, Any]) -> None:
        if object_name != "person" or not row.get("emails_primary_email"):
            return
        people = TABLES["person"]
        clash = conn.execute(
            select(people.c.id).where(
                func.lower(people.c.emails_primary_email) == row["emails_primary_email"].lower(),
                people.c.deleted_at.is_(None),
                people.c.id != row["id"],
            )
        ).first()
        if clash is not None:
            raise self._conflict(object_name, row, clash.id)

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
        table = TABLES[object_name]
        try:
            with self._store.write() as conn:
                current = nest(object_name, self._fetch(conn, object_name, record_id))
                editable = {k: v for k, v in current.items() if k not in _SYSTEM_INPUTS}
                record = validate_record(object_name, _merge(editable, data), self.options)
                row = flatten(object_name, record)
                row.pop("id", None)
                row.pop("created_at", None)
                row["updated_at"] = _now()
                self._check_references(conn, object_name, {**row, "id": record_id})
                self._check_unique(conn, object_name, {**row, "id": record_id})
                conn.execute(update(table).where(table.c.id == record_id).values(**row))
                updated = nest(object_name, self._fetch(conn, object_name, record_id))
        except IntegrityError:
            raise self._conflict(object_name, flatten_email(data)) from None
        return {"data": {f"update{_title(object_name)}": updated}}

    # -- delete -------------------------------------------------------------------------------

    def delete(self, object_name: ObjectName, record_id: str) -> dict[str, Any]:
        object_spec(object_name)
        record_id = _record_id(object_name, record_id)
        table = TABLES[object_name]
        now = _now()
        with self._store.write() as conn:
            self._fetch(conn, object_name, record_id)
            conn.execute(update(table).where(table.c.id == record_id).values(deleted_at=now, updated_at=now))
            for spec in OBJECTS.values():
                for rel in spec.many_to_one.values():
                    if rel.target != object_name:
                        continue
                    source = TABLES[spec.name]
                    column = source.c[snake(rel.column_path)]
                    if spec.name in ("noteTarget", "taskTarget"):
                        conn.execute(delete(source).where(column == record_id))
                    else:
                        conn.execute(
                            update(source)
                            .where(column == record_id)
                            .values({column.name: None, "updated_at": now})
                        )
        return {"data": {f"delete{_title(object_name)}": {"id": record_id}}}


def flatten_email(data: dict[str, Any]) -> dict[str, Any]:
    email = (data.get("emails") or {}).get("primaryEmail") if isinstance(data.get("emails"), dict) else None
    return {"emails_primary_email": email.lower() if isinstance(email, str) else None}
