"""Typed queries (``crm_tools.query``) → SQL text with positional parameters, per dialect.

Values always travel as parameters, never as SQL text; identifiers come from the field catalogue
only. The two dialects differ on case: SQLite's LIKE ignores ASCII case (and uses a COLLATE NOCASE
index for prefixes) while GLOB is case-sensitive; PostgreSQL's LIKE is case-sensitive and
``lower(col) LIKE`` matches its ``text_pattern_ops`` index.

Text is built left to right and each value is appended to ``params`` as its placeholder is
written, so the two always line up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crm_tools.backends._sql_engine import sqlite_datetime
from crm_tools.models import OBJECTS, snake
from crm_tools.query import Group, Node, Predicate, SortKey

_NEVER_NULL = {"id", "createdAt", "updatedAt"}


def _glob_literal(text: str) -> str:
    # In GLOB, wrapping a special character in brackets makes it literal.
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


def _like_to_glob(pattern: str) -> str:
    return "".join({"%": "*", "_": "?"}.get(ch, _glob_literal(ch)) for ch in pattern)


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def q(identifier: str) -> str:
    return f'"{identifier}"'


class SqlWriter:
    """Writes WHERE and ORDER BY text for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.p = "?" if self.sqlite else "%s"
        self.bind: Callable[[Any], Any] = _bind_sqlite if self.sqlite else _bind_plain

    def _param(self, params: list[Any], value: Any) -> str:
        params.append(self.bind(value))
        return self.p

    # -- text matching ------------------------------------------------------------------------

    def _literal_match(self, col: str, text: str, params: list[Any], *, prefix: bool, suffix: bool) -> str:
        """Case-sensitive match of ``text`` taken literally (startsWith, endsWith, containsAny)."""
        if self.sqlite:
            pattern = ("*" if prefix else "") + _glob_literal(text) + ("*" if suffix else "")
            return f"{col} GLOB {self._param(params, pattern)}"
        # PostgreSQL's default LIKE escape character is the backslash.
        pattern = ("%" if prefix else "") + _like_literal(text) + ("%" if suffix else "")
        return f"{col} LIKE {self._param(params, pattern)}"

    # -- predicates ---------------------------------------------------------------------------

    def predicate(self, pred: Predicate, params: list[Any]) -> str:
        ref = pred.field
        if ref.relation is not None:
            target = OBJECTS[ref.relation.target].table
            inner = self._leaf(q(ref.leaf.column), ref.leaf.kind.name, pred, params)
            join = q(snake(ref.relation.column_path))
            return f'{join} IN (SELECT "id" FROM {q(target)} WHERE {inner} AND "deleted_at" IS NULL)'
        return self._leaf(q(ref.leaf.column), ref.leaf.kind.name, pred, params)

    def _leaf(self, col: str, kind: str, pred: Predicate, params: list[Any]) -> str:
        value: Any = pred.value
        textual = kind in ("text", "email")
        match pred.comparator:
            case "eq":
                return f"{col} = {self._param(params, value)}"
            case "neq":
                # A CRM user asking for "stage is not WON" expects rows without a stage too.
                return f"({col} <> {self._param(params, value)} OR {col} IS NULL)"
            case "gt":
                return f"{col} > {self._param(params, value)}"
            case "gte":
                return f"{col} >= {self._param(params, value)}"
            case "lt":
                return f"{col} < {self._param(params, value)}"
            case "lte":
                return f"{col} <= {self._param(params, value)}"
            case "in":
                return f"{col} IN ({', '.join(self._param(params, item) for item in value)})"
            case "containsAny":
                matches = [self._literal_match(col, item, params, prefix=True, suffix=True) for item in value]
                return f"({' OR '.join(matches)})"
            case "startsWith":
                return self._literal_match(col, value, params, prefix=False, suffix=True)
            case "endsWith":
                return self._literal_match(col, value, params, prefix=True, suffix=False)
            case "like":
                if self.sqlite:
                    return f"{col} GLOB {self._param(params, _like_to_glob(value))}"
                return f"{col} LIKE {self._param(params, value.replace(chr(92), chr(92) * 2))}"
            case "ilike":
                if self.sqlite:
                    return f"{col} LIKE {self._param(params, value)}"
                return f"lower({col}) LIKE {self._param(params, value.replace(chr(92), chr(92) * 2).lower())}"
            case "is":
                # Empty text counts as null (docs/crm.md).
                if value == "NULL":
                    return f"({col} IS NULL OR {col} = '')" if textual else f"{col} IS NULL"
                return f"({col} IS NOT NULL AND {col} <> '')" if textual else f"{col} IS NOT NULL"
        raise AssertionError(pred.comparator)

    def node(self, node: Node, params: list[Any]) -> str:
        if isinstance(node, Predicate):
            return self.predicate(node, params)
        assert isinstance(node, Group)
        items = [self.node(item, params) for item in node.items]
        if not items:  # a filter of nothing but separators (",") matches everything
            return "TRUE" if node.operator == "and" else "FALSE"
        if node.operator == "and":
            return f"({' AND '.join(items)})"
        if node.operator == "or":
            return f"({' OR '.join(items)})"
        # NOT of an unknown (NULL) comparison is still unknown in SQL; a row whose field is null
        # does not match ``eq``, so it must match its negation.
        return f"NOT COALESCE({items[0]}, FALSE)"

    # -- ordering and keyset paging -------------------------------------------------------------

    def order(self, keys: tuple[SortKey, ...]) -> str:
        clauses = []
        for key in keys:
            clause = f"{q(key.leaf.column)} {'DESC' if key.descending else 'ASC'}"
            if key.leaf.path not in _NEVER_NULL:
                # Name the NULL position only where it differs from the dialect's own, so that a
                # plain index on the column can still serve the ORDER BY.
                default_first = (not key.descending) if self.sqlite else key.descending
                if key.nulls_first != default_first:
                    clause += " NULLS FIRST" if key.nulls_first else " NULLS LAST"
            clauses.append(clause)
        return ", ".join(clauses)

    def after(self, keys: tuple[SortKey, ...], values: tuple[Any, ...], params: list[Any]) -> str:
        """Rows strictly after ``values`` in the order ``keys`` (the full tuple, id last)."""
        alternatives = []
        for position, (key, value) in enumerate(zip(keys, values, strict=True)):
            parts = [self._same(k, v, params) for k, v in zip(keys[:position], values, strict=False)]
            col = q(key.leaf.column)
            if value is None:
                beyond = f"{col} IS NOT NULL" if key.nulls_first else "FALSE"
            else:
                beyond = f"{col} {'<' if key.descending else '>'} {self._param(params, value)}"
                if not key.nulls_first and key.leaf.path not in _NEVER_NULL:
                    beyond = f"({beyond} OR {col} IS NULL)"
            parts.append(beyond)
            alternatives.append(f"({' AND '.join(parts)})")
        return f"({' OR '.join(alternatives)})" if alternatives else "TRUE"

    def _same(self, key: SortKey, value: Any, params: list[Any]) -> str:
        col = q(key.leaf.column)
        return f"{col} IS NULL" if value is None else f"{col} = {self._param(params, value)}"


def _bind_sqlite(value: Any) -> Any:
    return sqlite_datetime(value) if isinstance(value, datetime) else value


def _bind_plain(value: Any) -> Any:
    return value
