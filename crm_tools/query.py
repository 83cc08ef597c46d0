"""The list query grammar of docs/crm.md: ``filter``, ``order_by``, ``limit``, cursors and ``depth``.

Text in, a typed ``ListQuery`` out; no SQL here. Every failure is a 400 ``CRMError`` whose message
says what was received and what is accepted, in Twenty's wording where Twenty has one.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from crm_tools.errors import CRMError
from crm_tools.models import (
    DEFAULT_OPTIONS,
    FieldSpec,
    ObjectSpec,
    Relation,
    SelectOptions,
    format_datetime,
    object_spec,
    parse_datetime,
)

DEFAULT_LIMIT = 60
MAX_LIMIT = 200
COMPARATORS = (
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "containsAny",
    "is",
    "startsWith",
    "endsWith",
    "like",
    "ilike",
)
_TEXT_ONLY = {"containsAny", "startsWith", "endsWith", "like", "ilike"}
_ORDERED = {"gt", "gte", "lt", "lte"}
_LIST_VALUED = {"in", "containsAny"}
DIRECTIONS = {
    "AscNullsFirst": (False, True),
    "AscNullsLast": (False, False),
    "DescNullsFirst": (True, True),
    "DescNullsLast": (True, False),
}
# Short forms follow Twenty: ascending puts NULLs first, descending puts them last.
_SHORT_DIRECTIONS = {"ASC": "AscNullsFirst", "DESC": "DescNullsLast"}
_MAX_INTEGER = 2**63 - 1
PAGING_PARAMS = ("limit", "filter", "order_by", "starting_after", "ending_before", "depth", "cursor")

# Every filter the grammar accepts must run on both stores. What the databases cap: SQLite an
# expression's depth (1000) and its parser's nesting (about 20 ``not`` groups), bound variables (999
# before 3.32), LIKE/GLOB patterns (50,000 bytes); PostgreSQL bound parameters (65535). The store writes long AND/OR lists as balanced
# trees, so depth grows with the logarithm of their length; these bounds leave a wide margin.
MAX_FILTER_CONDITIONS = 100
"""Conditions (``field[comparator]:value``) in one filter."""
MAX_FILTER_VALUES = 500
"""Values in one filter: one per condition, every item of an ``in``/``containsAny`` list."""
MAX_FILTER_NESTING = 8
"""Groups (``and``/``or``/``not``) inside one another."""
MAX_PATTERN_LENGTH = 1_000
"""Characters of a pattern (like, ilike, startsWith, endsWith, a containsAny item): SQLite refuses
patterns above 50,000 bytes, and a pattern may grow threefold on its way there."""


@dataclass(frozen=True)
class FieldRef:
    """A filtered leaf; ``relation`` is set when the path crosses one many-to-one hop."""

    path: str
    leaf: FieldSpec
    relation: Relation | None = None


@dataclass(frozen=True)
class Predicate:
    field: FieldRef
    comparator: str
    # A coerced scalar; a tuple for ``in``/``containsAny``; "NULL"/"NOT_NULL" for ``is``.
    value: Any


@dataclass(frozen=True)
class Group:
    operator: Literal["and", "or", "not"]
    items: tuple[Node, ...]


Node = Predicate | Group


@dataclass(frozen=True)
class SortKey:
    leaf: FieldSpec
    descending: bool
    nulls_first: bool

    @property
    def direction(self) -> str:
        return next(
            name for name, flags in DIRECTIONS.items() if flags == (self.descending, self.nulls_first)
        )

    def reversed(self) -> SortKey:
        return SortKey(self.leaf, not self.descending, not self.nulls_first)


@dataclass(frozen=True)
class ListQuery:
    object_name: str
    filter: Node | None
    order_by: tuple[SortKey, ...]  # always ends with ``id``
    limit: int
    starting_after: tuple[Any, ...] | None  # decoded cursor: one value per sort key
    ending_before: tuple[Any, ...] | None
    depth: int
    include_deleted: bool  # the filter names ``deletedAt``


def _bad(message: str, code: str = "INVALID_FILTER") -> CRMError:
    return CRMError(message, code=code)


# ---------------------------------------------------------------------------------------------
# scanning: split at top-level separators, honouring quotes, brackets and parentheses

_OPENERS_BEFORE_QUOTE = {":", "[", ",", "("}
_CLOSERS_AFTER_QUOTE = {",", "]", ")"}


def _next_non_space(text: str, start: int) -> str:
    for ch in text[start:]:
        if not ch.isspace():
            return ch
    return ""


def split_top_level(text: str, *, what: str = "filter") -> list[str]:
    """Split at commas outside quotes, ``[...]`` and ``(...)``.

    A quote only opens right after ``:``, ``[``, ``,`` or ``(`` and only closes right before a
    separator or the end, so apostrophes inside unquoted words (``O'Brien``) stay literal.
    """
    items: list[str] = []
    parens = brackets = 0
    quote = ""
    last = ""  # last non-space character outside quotes
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and (
                _next_non_space(text, i + 1) in _CLOSERS_AFTER_QUOTE or not text[i + 1 :].strip()
            ):
                quote = ""
                last = ch
            continue
        if ch in "\"'" and (last in _OPENERS_BEFORE_QUOTE or last == ""):
            quote = ch
        elif ch == "(":
            parens += 1
        elif ch == ")":
            parens -= 1
            if parens < 0:
                raise _bad(
                    f"'{what}' invalid: unbalanced ')' at position {i} in '{text}'. "
                    f"Quote values that contain parentheses eg: 'name[eq]:\"a)b\"'"
                )
        elif ch == "[":
            brackets += 1
        elif ch == "]":
            brackets -= 1
            if brackets < 0:
                raise _bad(f"'{what}' invalid: unbalanced ']' at position {i} in '{text}'")
        elif ch == "," and parens == 0 and brackets == 0:
            items.append(text[start:i])
            start = i + 1
        if not ch.isspace():
            last = ch
    if quote:
        raise _bad(f"'{what}' invalid: unterminated {quote} quote in '{text}'")
    if parens:
        raise _bad(f"'{what}' invalid: unbalanced '(' in '{text}'; every group needs its closing ')'")
    if brackets:
        raise _bad(f"'{what}' invalid: unbalanced '[' in '{text}'")
    items.append(text[start:])
    return items


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


# ---------------------------------------------------------------------------------------------
# fields and values


def resolve_field(spec: ObjectSpec, path: str, *, what: str = "filter") -> FieldRef:
    if path in spec.fields:
        return FieldRef(path, spec.fields[path])
    head, _, rest = path.partition(".")
    if rest and head in spec.many_to_one:
        relation = spec.many_to_one[head]
        target = object_spec(relation.target)
        if rest in target.fields:
            return FieldRef(path, target.fields[rest], relation)
        raise _bad(
            f"'{what}' invalid: '{rest}' is not a field of {target.name} (reached through '{head}'). "
            f"Accepted: {', '.join(target.fields)}"
        )
    if path in spec.composites:
        parts = ", ".join(leaf.path for leaf in spec.composites[path])
        raise _bad(f"'{what}' invalid: '{path}' is a composite field; name one of its parts: {parts}")
    accepted = [*spec.fields, *(f"{rel}.<field>" for rel in spec.many_to_one)]
    raise _bad(f"'{what}' invalid: '{path}' is not a field of {spec.name}. Accepted: {', '.join(accepted)}")


def coerce_value(leaf: FieldSpec, raw: str, options: SelectOptions, *, where: str) -> Any:
    """Coerce one filter or cursor value by the field's kind."""
    kind = leaf.kind.name
    fail = f"'{where}' invalid for field '{leaf.path}': received '{raw}' but"
    if kind in ("text", "email"):
        if "\x00" in raw:
            raise _bad(f"{fail} text must not contain NUL characters")
        return raw
    if kind in ("integer", "float"):
        try:
            number = float(raw) if kind == "float" or not re.fullmatch(r"[+-]?\d+", raw.strip()) else int(raw)
        except ValueError:
            raise _bad(f"{fail} a number was expected eg: '{leaf.path}[gte]:100'") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise _bad(f"{fail} a finite number was expected eg: '{leaf.path}[gte]:100'")
        if isinstance(number, int) and abs(number) > _MAX_INTEGER:
            raise _bad(f"{fail} whole numbers are limited to ±{_MAX_INTEGER} (64 bits)")
        return number
    if kind == "boolean":
        lowered = raw.strip().lower()
        if lowered not in ("true", "false"):
            raise _bad(f"{fail} true or false was expected eg: '{leaf.path}[eq]:true'")
        return lowered == "true"
    if kind == "uuid":
        try:
            return str(uuid.UUID(raw.strip()))
        except ValueError:
            raise _bad(f"{fail} a UUID was expected eg: '{leaf.path}[eq]:{uuid.UUID(int=1)}'") from None
    if kind == "select":
        allowed = options.of(leaf.kind.options or "")
        if raw not in allowed:
            raise _bad(f"{fail} it is not an option. Accepted: {', '.join(allowed)}")
        return raw
    if kind == "datetime":
        try:
            return parse_datetime(raw)
        except ValueError:
            raise _bad(
                f"{fail} a date was expected eg: '{leaf.path}[gte]:2026-01-31' or '2026-01-31T09:30:00Z'"
            ) from None
    raise AssertionError(f"unhandled kind {kind}")


def _list_example(leaf: FieldSpec, options: SelectOptions) -> str:
    if leaf.kind.name == "select":
        allowed = options.of(leaf.kind.options or "")
        return f"{allowed[0]},{allowed[-2] if len(allowed) > 2 else allowed[-1]}"
    return {"integer": "1,2", "float": "1.5,2", "boolean": "true,false", "uuid": "ID1,ID2"}.get(
        leaf.kind.name, "a,b"
    )


# ---------------------------------------------------------------------------------------------
# filter

_PREDICATE = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\[([^\]]*)\]\s*:(.*)", re.S
)
_GROUP = re.compile(r"\s*(and|or|not)\s*\((.*)\)\s*", re.S)


def _parse_predicate(spec: ObjectSpec, text: str, options: SelectOptions) -> Predicate:
    match = _PREDICATE.fullmatch(text)
    if not match:
        raise _bad(
            f"'filter' invalid: '{text.strip()}' is not a condition. "
            f"Expected field[comparator]:value eg: 'name[eq]:Acme' or a group and(...), or(...), not(...)"
        )
    path, comparator, raw = match.group(1), match.group(2).strip(), match.group(3)
    if comparator not in COMPARATORS:
        raise _bad(
            f"'filter' invalid: '{comparator}' is not a comparator. Accepted: {', '.join(COMPARATORS)}"
        )
    ref = resolve_field(spec, path)
    kind = ref.leaf.kind.name
    if comparator in _TEXT_ONLY and kind not in ("text", "email"):
        raise _bad(
            f"'filter' invalid for '{comparator}' operator: '{path}' is a {kind} field and "
            f"'{comparator}' applies to text fields. Use eq, neq, in, is"
            + (", gt, gte, lt, lte" if kind not in ("boolean", "select") else "")
        )
    if comparator in _ORDERED and kind in ("boolean", "select"):
        raise _bad(
            f"'filter' invalid for '{comparator}' operator: '{path}' is a {kind} field; use eq, neq, in or is"
        )
    value = raw.strip()
    if comparator == "is":
        value = unquote(value)
        if value not in ("NULL", "NOT_NULL"):
            raise _bad(
                f"'filter' invalid for 'is' operator. Received '{value}' but NULL or NOT_NULL expected "
                f"eg: '{path}[is]:NULL'"
            )
        return Predicate(ref, comparator, value)
    if comparator in _LIST_VALUED:
        if not (value.startswith("[") and value.endswith("]")):
            raise _bad(
                f"'filter' invalid for '{comparator}' operator. Received '{value}' but array value expected "
                f"eg: '{path}[{comparator}]:[{_list_example(ref.leaf, options)}]'"
            )
        inner = value[1:-1]
        items = [unquote(item) for item in split_top_level(inner)] if inner.strip() else []
        if len(items) > MAX_FILTER_VALUES:
            raise _too_large(f"'{path}[{comparator}]' lists {len(items)} values")
        if not items or any(item == "" for item in items):
            raise _bad(
                f"'filter' invalid for '{comparator}' operator. Received '{value}' but a non-empty array "
                f"expected eg: '{path}[{comparator}]:[{_list_example(ref.leaf, options)}]'"
            )
        coerced = tuple(coerce_value(ref.leaf, item, options, where="filter") for item in items)
        if comparator in _TEXT_ONLY:
            _check_pattern(path, comparator, coerced)
        if kind == "email" and comparator == "in":
            coerced = tuple(v.lower() for v in coerced)
        return Predicate(ref, comparator, coerced)
    value = unquote(value)
    coerced = coerce_value(ref.leaf, value, options, where="filter")
    if comparator in _TEXT_ONLY:
        _check_pattern(path, comparator, (coerced,))
    if kind == "email" and comparator in ("eq", "neq"):
        coerced = coerced.lower()  # emails are stored lower-cased
    return Predicate(ref, comparator, coerced)


def _check_pattern(path: str, comparator: str, patterns: tuple[str, ...]) -> None:
    longest = max(len(pattern) for pattern in patterns)
    if longest > MAX_PATTERN_LENGTH:
        raise _bad(
            f"'filter' too large: the '{path}[{comparator}]' pattern has {longest} characters; patterns "
            f"(like, ilike, startsWith, endsWith, containsAny items) may have at most {MAX_PATTERN_LENGTH}"
        )


def _too_large(what: str) -> CRMError:
    return _bad(
        f"'filter' too large: {what}. A filter may hold at most {MAX_FILTER_CONDITIONS} conditions and "
        f"{MAX_FILTER_VALUES} values (each item of an in/containsAny list counts), with groups nested at "
        f"most {MAX_FILTER_NESTING} deep; split the query or narrow it",
    )


def _parse_node(spec: ObjectSpec, text: str, options: SelectOptions, depth: int) -> Node:
    group = _GROUP.fullmatch(text)
    if group:
        if depth >= MAX_FILTER_NESTING:
            raise _too_large(f"groups nest more than {MAX_FILTER_NESTING} deep")
        operator = group.group(1)
        inner = group.group(2)
        items = tuple(
            _parse_node(spec, part, options, depth + 1) for part in split_top_level(inner) if part.strip()
        )
        if operator == "not" and len(items) != 1:
            raise _bad(
                f"'filter' invalid: not(...) takes exactly one condition, received {len(items)}. "
                f"Negate several with not(and(...)) or not(or(...))"
            )
        if not items:
            raise _bad(f"'filter' invalid: {operator}(...) needs at least one condition")
        return Group(operator, items)  # type: ignore[arg-type]
    return _parse_predicate(spec, text, options)


def parse_filter(object_name: str, text: str | None, options: SelectOptions = DEFAULT_OPTIONS) -> Node | None:
    """Parse a ``filter`` string; top-level items are ANDed."""
    if text is None or not str(text).strip():
        return None
    if not isinstance(text, str):
        raise _bad(f"'filter' invalid: expected text, received {type(text).__name__}")
    spec = object_spec(object_name)
    parts = [part for part in split_top_level(text) if part.strip()]
    items = tuple(_parse_node(spec, part, options, 0) for part in parts)
    node = items[0] if len(items) == 1 else Group("and", items)
    _check_size(node)
    return node


def _check_size(node: Node) -> None:
    conditions = values = 0
    for predicate in walk(node):
        conditions += 1
        values += len(predicate.value) if isinstance(predicate.value, tuple) else 1
    if conditions > MAX_FILTER_CONDITIONS:
        raise _too_large(f"it has {conditions} conditions")
    if values > MAX_FILTER_VALUES:
        raise _too_large(f"it has {values} values")


def walk(node: Node | None) -> Iterator[Predicate]:
    if node is None:
        return
    if isinstance(node, Predicate):
        yield node
    else:
        for item in node.items:
            yield from walk(item)


# ---------------------------------------------------------------------------------------------
# order_by, limit, depth, cursors

_SORT_ITEM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\[\s*([A-Za-z]*)\s*\])?\s*")


def parse_order_by(object_name: str, text: str | None) -> tuple[SortKey, ...]:
    spec = object_spec(object_name)
    keys: list[SortKey] = []
    if text is not None and not isinstance(text, str):
        raise _bad(f"'order_by' invalid: expected text, received {type(text).__name__}", "INVALID_ORDER_BY")
    for item in split_top_level(text or "", what="order_by"):
        if not item.strip():
            continue
        match = _SORT_ITEM.fullmatch(item)
        if not match:
            raise _bad(
                f"'order_by' invalid: '{item.strip()}' is not a sort item. "
                f"Expected field[Direction] eg: 'name[AscNullsFirst],employees[DescNullsLast]'",
                "INVALID_ORDER_BY",
            )
        path, direction = match.group(1), match.group(2) or "AscNullsFirst"
        direction = _SHORT_DIRECTIONS.get(direction.upper(), direction)
        if direction not in DIRECTIONS:
            accepted = ", ".join([*DIRECTIONS, *_SHORT_DIRECTIONS])
            raise _bad(
                f"'order_by' invalid: '{direction}' is not a direction for '{path}'. Accepted: {accepted}",
                "INVALID_ORDER_BY",
            )
        if path not in spec.fields:
            try:
                resolve_field(spec, path, what="order_by")
            except CRMError as exc:
                raise _bad(exc.message, "INVALID_ORDER_BY") from None
            raise _bad(
                f"'order_by' invalid: '{path}' crosses a relation; sort by fields of {spec.name} itself "
                f"(join columns such as '{path.split('.')[0]}Id' are fine)",
                "INVALID_ORDER_BY",
            )
        if any(key.leaf.path == path for key in keys):
            raise _bad(f"'order_by' invalid: '{path}' is named twice", "INVALID_ORDER_BY")
        descending, nulls_first = DIRECTIONS[direction]
        keys.append(SortKey(spec.fields[path], descending, nulls_first))
        if path == "id":
            break  # id is unique: later keys could never matter
    if not keys or keys[-1].leaf.path != "id":
        keys.append(SortKey(spec.fields["id"], False, True))
    return tuple(keys)


def parse_limit(value: int | str | None) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_LIMIT
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _bad(
            f"'limit' invalid: expected a whole number from 0 to {MAX_LIMIT}, received {value!r}",
            "INVALID_LIMIT",
        )
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d+\s*", value):
            raise _bad(
                f"'limit' invalid: expected a whole number from 0 to {MAX_LIMIT}, received '{value}'",
                "INVALID_LIMIT",
            )
        value = int(value)
    if value < 0:
        raise _bad(
            f"'limit' invalid: expected a whole number from 0 to {MAX_LIMIT}, received {value}",
            "INVALID_LIMIT",
        )
    return min(value, MAX_LIMIT)


def parse_depth(value: int | str | None) -> int:
    if value is None:
        return 0
    if not isinstance(value, bool) and str(value).strip() in ("0", "1"):
        return int(str(value).strip())
    raise _bad(
        f"'depth' invalid: expected 0 (fields only) or 1 (with relations), received {value!r}",
        "INVALID_DEPTH",
    )


def _signature(order_by: tuple[SortKey, ...]) -> str:
    return ",".join(f"{key.leaf.path}[{key.direction}]" for key in order_by)


def _jsonable(value: Any) -> Any:
    return format_datetime(value) if isinstance(value, datetime) else value


def cursor_signature(order_by: tuple[SortKey, ...]) -> str:
    """The sort a cursor belongs to, as written into it (computed once per list plan by stores)."""
    return _signature(order_by)


_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_cursor(
    order_by: tuple[SortKey, ...], values: tuple[Any, ...], signature: str | None = None
) -> str:
    """Base64 JSON of the sort-key values (id last) and the sort they belong to."""
    payload = {
        "o": _signature(order_by) if signature is None else signature,
        "v": [_jsonable(v) for v in values],
    }
    raw = _CURSOR_JSON.encode(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, order_by: tuple[SortKey, ...], options: SelectOptions, *, param: str
) -> tuple[Any, ...]:
    invalid = (
        f"'{param}' invalid: '{cursor}' is not a cursor of this list; use pageInfo.startCursor or endCursor"
    )
    if not isinstance(cursor, str) or not cursor.strip():
        raise _bad(invalid, "INVALID_CURSOR")
    try:
        text = cursor.strip()
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad(invalid, "INVALID_CURSOR") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), list):
        raise _bad(invalid, "INVALID_CURSOR")
    if payload.get("o") != _signature(order_by) or len(payload["v"]) != len(order_by):
        raise _bad(
            f"'{param}' invalid: the cursor was made for order_by '{payload.get('o')}', not "
            f"'{_signature(order_by)}'; page with the same order_by or start again without a cursor",
            "INVALID_CURSOR",
        )
    values = []
    for key, value in zip(order_by, payload["v"], strict=True):
        if value is None:
            if key.leaf.path == "id":
                raise _bad(invalid, "INVALID_CURSOR")
            values.append(None)
            continue
        kind = key.leaf.kind.name
        ok = {
            "integer": isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_INTEGER,
            "float": isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
            "boolean": isinstance(value, bool),
        }.get(kind, isinstance(value, str))
        if not ok:
            raise _bad(invalid, "INVALID_CURSOR")
        try:
            values.append(
                value
                if kind in ("integer", "float", "boolean")
                else coerce_value(key.leaf, value, options, where=param)
            )
        except CRMError:
            raise _bad(invalid, "INVALID_CURSOR") from None
    return tuple(values)


def parse_list_query(
    object_name: str,
    *,
    filter: str | None = None,
    order_by: str | None = None,
    limit: int | str | None = None,
    starting_after: str | None = None,
    ending_before: str | None = None,
    depth: int | str | None = 0,
    options: SelectOptions = DEFAULT_OPTIONS,
) -> ListQuery:
    object_spec(object_name)
    if starting_after and ending_before:
        raise _bad(
            "'starting_after' and 'ending_before' cannot be combined; give one cursor to page forward "
            "(starting_after=endCursor) or backward (ending_before=startCursor)",
            "INVALID_CURSOR",
        )
    node = parse_filter(object_name, filter, options)
    keys = parse_order_by(object_name, order_by)
    after = decode_cursor(starting_after, keys, options, param="starting_after") if starting_after else None
    before = decode_cursor(ending_before, keys, options, param="ending_before") if ending_before else None
    include_deleted = any(p.field.relation is None and p.field.leaf.path == "deletedAt" for p in walk(node))
    return ListQuery(
        object_name, node, keys, parse_limit(limit), after, before, parse_depth(depth), include_deleted
    )


def list_arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters → keyword arguments of ``CRMBackend.list``; unknown names are refused.

    ``cursor`` is the legacy alias of ``starting_after`` (docs/env-protocol.md).
    """
    unknown = [name for name in params if name not in PAGING_PARAMS]
    if unknown:
        raise _bad(
            f"unknown list parameter(s): {', '.join(sorted(unknown))}. Accepted: {', '.join(PAGING_PARAMS)}",
            "INVALID_PARAMETER",
        )
    args = {name: value for name, value in params.items() if value is not None}
    if "cursor" in args:
        cursor = args.pop("cursor")
        if args.get("starting_after") not in (None, cursor):
            raise _bad("'cursor' and 'starting_after' disagree; give only 'starting_after'", "INVALID_CURSOR")
        args["starting_after"] = cursor
    return args
