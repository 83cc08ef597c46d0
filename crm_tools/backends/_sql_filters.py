"""Typed queries (``crm_tools.query``) → SQLAlchemy Core expressions, per dialect.

Values are always bound parameters. The two dialects differ on case: SQLite's LIKE ignores ASCII
case (and uses a COLLATE NOCASE index for prefixes) while GLOB is case-sensitive; PostgreSQL's
LIKE is case-sensitive and ``lower(col) LIKE`` matches its ``text_pattern_ops`` index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import UnaryExpression

from crm_tools.backends._sql_schema import TABLES
from crm_tools.models import snake
from crm_tools.query import Group, Node, Predicate, SortKey

_NEVER_NULL = {"id", "createdAt", "updatedAt"}


def _glob_literal(text: str) -> str:
    # In GLOB, wrapping a special character in brackets makes it literal.
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


def _like_to_glob(pattern: str) -> str:
    return "".join({"%": "*", "_": "?"}.get(ch, _glob_literal(ch)) for ch in pattern)


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class FilterCompiler:
    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    # -- text matching ------------------------------------------------------------------------

    def _glob(self, col: ColumnElement, pattern: str) -> ColumnElement[bool]:
        return col.op("GLOB", is_comparison=True)(pattern)

    def _literal_match(
        self, col: ColumnElement, text: str, *, prefix: bool, suffix: bool
    ) -> ColumnElement[bool]:
        """Case-sensitive match of ``text`` taken literally (startsWith, endsWith, containsAny)."""
        if self.sqlite:
            return self._glob(col, ("*" if prefix else "") + _glob_literal(text) + ("*" if suffix else ""))
        # PostgreSQL's default LIKE escape character is the backslash.
        return col.like(("%" if prefix else "") + _like_literal(text) + ("%" if suffix else ""))

    def _like(self, col: ColumnElement, pattern: str) -> ColumnElement[bool]:
        if self.sqlite:
            return self._glob(col, _like_to_glob(pattern))
        return col.like(pattern.replace("\\", "\\\\"))

    def _ilike(self, col: ColumnElement, pattern: str) -> ColumnElement[bool]:
        if self.sqlite:
            return col.op("LIKE", is_comparison=True)(pattern)
        return func.lower(col).like(pattern.replace("\\", "\\\\").lower())

    # -- predicates ---------------------------------------------------------------------------

    def predicate(self, table: Table, pred: Predicate) -> ColumnElement[bool]:
        ref = pred.field
        if ref.relation is not None:
            target = TABLES[ref.relation.target]
            inner = self._leaf(target, ref.leaf.column, ref.leaf.kind.name, pred)
            join_column = table.c[snake(ref.relation.column_path)]
            matching = select(target.c.id).where(inner, target.c.deleted_at.is_(None))
            return join_column.in_(matching)
        return self._leaf(table, ref.leaf.column, ref.leaf.kind.name, pred)

    def _leaf(self, table: Table, column: str, kind: str, pred: Predicate) -> ColumnElement[bool]:
        col = table.c[column]
        value: Any = pred.value
        textual = kind in ("text", "email")
        match pred.comparator:
            case "eq":
                return col == value
            case "neq":
                # A CRM user asking for "stage is not WON" expects rows without a stage too.
                return or_(col != value, col.is_(None))
            case "gt":
                return col > value
            case "gte":
                return col >= value
            case "lt":
                return col < value
            case "lte":
                return col <= value
            case "in":
                return col.in_(list(value))
            case "containsAny":
                return or_(*(self._literal_match(col, item, prefix=True, suffix=True) for item in value))
            case "startsWith":
                return self._literal_match(col, value, prefix=False, suffix=True)
            case "endsWith":
                return self._literal_match(col, value, prefix=True, suffix=False)
            case "like":
                return self._like(col, value)
            case "ilike":
                return self._ilike(col, value)
            case "is":
                # Empty text counts as null (CRM.md).
                if value == "NULL":
                    return or_(col.is_(None), col == "") if textual else col.is_(None)
                return and_(col.is_not(None), col != "") if textual else col.is_not(None)
        raise AssertionError(pred.comparator)

    def node(self, table: Table, node: Node) -> ColumnElement[bool]:
        if isinstance(node, Predicate):
            return self.predicate(table, node)
        assert isinstance(node, Group)
        items = [self.node(table, item) for item in node.items]
        if node.operator == "and":
            return and_(*items)
        if node.operator == "or":
            return or_(*items)
        # NOT of an unknown (NULL) comparison is still unknown in SQL; a row whose field is null
        # does not match ``eq``, so it must match its negation.
        return not_(func.coalesce(items[0], false()))

    # -- ordering and keyset paging -------------------------------------------------------------

    def order(self, table: Table, keys: tuple[SortKey, ...]) -> list[UnaryExpression]:
        clauses = []
        for key in keys:
            col = table.c[key.leaf.column]
            clause = col.desc() if key.descending else col.asc()
            if key.leaf.path not in _NEVER_NULL:
                # Name the NULL position only where it differs from the dialect's own, so that a
                # plain index on the column can still serve the ORDER BY.
                default_first = (not key.descending) if self.sqlite else key.descending
                if key.nulls_first != default_first:
                    clause = clause.nulls_first() if key.nulls_first else clause.nulls_last()
            clauses.append(clause)
        return clauses

    def after(self, table: Table, keys: tuple[SortKey, ...], values: tuple[Any, ...]) -> ColumnElement[bool]:
        """Rows strictly after ``values`` in the order ``keys`` (the full tuple, id last)."""
        alternatives = []
        equal: list[ColumnElement[bool]] = []
        for key, value in zip(keys, values, strict=True):
            col = table.c[key.leaf.column]
            if value is None:
                beyond = col.is_not(None) if key.nulls_first else false()
                same = col.is_(None)
            else:
                beyond = col < value if key.descending else col > value
                if not key.nulls_first and key.leaf.path not in _NEVER_NULL:
                    beyond = or_(beyond, col.is_(None))
                same = col == value
            alternatives.append(and_(*equal, beyond) if equal else beyond)
            equal.append(same)
        return or_(*alternatives) if alternatives else true()
