"""Typed queries (``crm_tools.query``) → SQL text with positional parameters, per dialect.

Values always travel as parameters, never as SQL text; identifiers come from the field catalogue
only. The dialects differ on case: SQLite's LIKE ignores ASCII case while GLOB is case-sensitive;
PostgreSQL's LIKE is case-sensitive. ``ilike`` compares folded text on both (``_case_fold``).

Text is built left to right and each value is appended to ``params`` as its placeholder is
written, so the two always line up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from crm_tools.backends._case_fold import fold_case, folded_sql, prefix_bounds
from crm_tools.backends._sql_engine import sqlite_datetime
from crm_tools.models import OBJECTS, Relation, snake
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

    def _ilike(self, col: str, pattern: str, params: list[Any]) -> str:
        """Folded text LIKE the folded pattern (``_case_fold``); on SQLite with the range of its
        literal prefix first, which its index on the folded text can serve."""
        folded = folded_sql(col, sqlite=self.sqlite)
        if not self.sqlite:
            return f"{folded} LIKE {self._param(params, pattern.replace(chr(92), chr(92) * 2))}"
        bounds = prefix_bounds(pattern)
        if bounds is None:
            return f"{folded} LIKE {self._param(params, pattern)}"
        low, high = bounds
        ranged = f"{folded} >= {self._param(params, low)}"
        if high is not None:
            ranged += f" AND {folded} < {self._param(params, high)}"
        return f"({ranged} AND {folded} LIKE {self._param(params, pattern)})"

    # -- predicates ---------------------------------------------------------------------------

    def predicate(self, pred: Predicate, params: list[Any]) -> str:
        if pred.field.relation is not None:
            return self._across(pred.field.relation, [pred], "AND", params)
        return self._leaf(q(pred.field.leaf.column), pred.field.leaf.kind.name, pred, params)

    def _across(self, relation: Relation, nodes: list[Node], operator: str, params: list[Any]) -> str:
        """Conditions on the record a join column points to, as one subquery.

        ``x IN A AND x IN B`` is ``x IN (A AND B)`` (likewise OR) for subqueries of one table by id.
        One subquery per relation and group matters on PostgreSQL: it turns each ``IN`` that is a
        conjunct of the WHERE clause into a join, and planning 100 of them took 40 seconds.
        """
        target = OBJECTS[relation.target].table
        where = _balanced([self._on_target(node, params) for node in nodes], operator)
        join = q(snake(relation.column_path))
        return f'{join} IN (SELECT "id" FROM {q(target)} WHERE {where} AND "deleted_at" IS NULL)'

    def _on_target(self, node: Node, params: list[Any]) -> str:
        if isinstance(node, Predicate):
            return self._leaf(q(node.field.leaf.column), node.field.leaf.kind.name, node, params)
        return _balanced([self._on_target(item, params) for item in _members(node)], node.operator.upper())

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
                return _balanced(matches, "OR")
            case "startsWith":
                return self._literal_match(col, value, params, prefix=False, suffix=True)
            case "endsWith":
                return self._literal_match(col, value, params, prefix=True, suffix=False)
            case "like":
                if self.sqlite:
                    return f"{col} GLOB {self._param(params, _like_to_glob(value))}"
                return f"{col} LIKE {self._param(params, value.replace(chr(92), chr(92) * 2))}"
            case "ilike":
                return self._ilike(col, fold_case(value), params)
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
        if node.operator in ("and", "or"):
            return self._list(node, params)
        items = [self.node(item, params) for item in node.items]
        # NOT of an unknown (NULL) comparison is still unknown in SQL; a row whose field is null
        # does not match ``eq``, so it must match its negation.
        return f"NOT COALESCE({items[0]}, FALSE)"

    def _list(self, group: Group, params: list[Any]) -> str:
        operator = group.operator.upper()
        members = [(member, _relation_of(member)) for member in _members(group)]
        if not members:  # a filter of nothing but separators (",") matches everything
            return "TRUE" if group.operator == "and" else "FALSE"
        across: dict[Relation, list[Node]] = {}
        for member, relation in members:
            if relation is not None:
                across.setdefault(relation, []).append(member)
        terms = []
        for member, relation in members:
            if relation is None:
                terms.append(self.node(member, params))
            elif relation in across:  # the relation's first member writes them all
                terms.append(self._across(relation, across.pop(relation), operator, params))
        return _balanced(terms, operator)

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


def _members(group: Group) -> Iterator[Node]:
    """The items of an and/or group, with the and/or groups inside that change nothing opened up:
    those of the same operator, and those of one item."""
    for item in group.items:
        if (
            isinstance(item, Group)
            and item.operator != "not"
            and (item.operator == group.operator or len(item.items) == 1)
        ):
            yield from _members(item)
        else:
            yield item


def _relation_of(node: Node) -> Relation | None:
    """The relation that every condition of ``node`` crosses, when nothing but and/or joins them
    (those can move into one subquery; a ``not`` cannot, it would also match a missing record)."""
    if isinstance(node, Predicate):
        return node.field.relation
    if node.operator == "not":
        return None
    relations = {_relation_of(item) for item in node.items}
    return relations.pop() if len(relations) == 1 else None


def _balanced(terms: list[str], operator: str) -> str:
    """``(a OP b OP c ...)`` as a balanced tree of parentheses.

    SQLite parses a flat chain into a tree as deep as the chain is long and refuses trees deeper
    than 1000 ("Expression tree is too large"); balanced, the depth grows with the logarithm. Runs
    of a few terms stay flat, which keeps short filters readable and the nesting shallow.
    """
    if len(terms) <= _FLAT_RUN:
        return f"({f' {operator} '.join(terms)})"
    size = -(-len(terms) // _FLAT_RUN)  # terms per part, so that there are at most _FLAT_RUN parts
    parts = [_balanced(terms[i : i + size], operator) for i in range(0, len(terms), size)]
    return f"({f' {operator} '.join(parts)})"


_FLAT_RUN = 8


def _bind_sqlite(value: Any) -> Any:
    return sqlite_datetime(value) if isinstance(value, datetime) else value


def _bind_plain(value: Any) -> Any:
    return value
