"""Stored rows ⇄ Twenty-shaped records, planned once per object and dialect.

A row is the tuple the driver returns for ``SELECT <COLUMNS[object]>``. Shaping it into a record
is the one piece of Python every read pays for, so each object gets a function generated from the
field catalogue that builds the nested dict in one expression: no per-row walk over field specs.

SQLite keeps date-times as text (``YYYY-MM-DD HH:MM:SS.ffffff``, SQLAlchemy's format) and
booleans as 0/1; PostgreSQL returns ``datetime`` and ``bool``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from crm_tools.backends._sql_engine import sqlite_datetime
from crm_tools.models import OBJECTS, format_datetime

Nester = Callable[[tuple[Any, ...]], dict[str, Any]]

COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(leaf.column for leaf in spec.fields.values()) for name, spec in OBJECTS.items()
}
KINDS: dict[str, tuple[str, ...]] = {
    name: tuple(leaf.kind.name for leaf in spec.fields.values()) for name, spec in OBJECTS.items()
}
INDEX: dict[str, dict[str, int]] = {
    name: {c: i for i, c in enumerate(cols)} for name, cols in COLUMNS.items()
}


def _sqlite_dt(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) == 26:  # the stored form: cut to milliseconds and mark as UTC
        return f"{value[:10]}T{value[11:23]}Z"
    return format_datetime(datetime.fromisoformat(value))


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _plain_dt(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


def _expression(name: str, converters: dict[str, str]) -> str:
    spec = OBJECTS[name]
    items: list[str] = []
    composite: dict[str, list[str]] = {}
    for index, leaf in enumerate(spec.fields.values()):
        value = f"r[{index}]"
        if leaf.kind.name in converters:
            value = f"{converters[leaf.kind.name]}({value})"
        head, _, sub = leaf.path.partition(".")
        if sub:
            if head not in composite:
                composite[head] = []
                items.append(head)
            composite[head].append(f"{sub!r}: {value}")
        else:
            items.append(f"{head!r}: {value}")
    body = ", ".join(
        f"{item!r}: {{{', '.join(composite[item])}}}" if item in composite else item for item in items
    )
    return f"{{{body}}}"


@cache
def nester(name: str, sqlite: bool) -> Nester:
    """``row tuple → record`` for ``name``; keys in catalogue order, composites nested."""
    converters = {"datetime": "_dt", "boolean": "_flag"} if sqlite else {"datetime": "_dt"}
    namespace = {"_dt": _sqlite_dt if sqlite else _plain_dt, "_flag": _flag}
    # Generated from the catalogue (no user input), so the shaping is one dict display per row.
    exec(f"def nest(r):\n    return {_expression(name, converters)}\n", namespace)
    return namespace["nest"]  # type: ignore[no-any-return]


def db_value(value: Any, sqlite: bool) -> Any:
    return sqlite_datetime(value) if sqlite and isinstance(value, datetime) else value


_DATETIME_POSITIONS = {
    name: tuple(i for i, k in enumerate(KINDS[name]) if k == "datetime") for name in OBJECTS
}


def db_row(name: str, flat: dict[str, Any], sqlite: bool) -> tuple[Any, ...]:
    """A flattened record (``{column: value}``) → the parameter tuple in ``COLUMNS`` order."""
    get = flat.get
    values = [get(column) for column in COLUMNS[name]]
    if sqlite:
        for position in _DATETIME_POSITIONS[name]:
            value = values[position]
            if value is not None:
                values[position] = sqlite_datetime(value)
    return tuple(values)


def python_value(kind: str, value: Any, sqlite: bool) -> Any:
    """A stored value as the query layer knows it (cursors carry typed sort-key values)."""
    if value is None or not sqlite:
        return value
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "boolean":
        return bool(value)
    return value
