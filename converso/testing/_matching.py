"""Subset matching of expected values against actual ones, and the diffs shown when they differ.

Cassettes list only the fields they care about, so a record matches when every listed field matches,
recursively into nested composites. YAML reads ``2026-12-01`` as a date while the CRM returns
ISO strings, so dates compare by calendar value rather than by type.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import yaml


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(matches(value, actual.get(key)) for key, value in expected.items())
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(expected) != len(actual):
            return False
        return all(matches(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    if isinstance(expected, date):
        return _same_moment(expected, actual)
    return expected == actual


def _same_moment(expected: date, actual: Any) -> bool:
    if isinstance(actual, str):
        try:
            actual = datetime.fromisoformat(actual.replace("Z", "+00:00"))
        except ValueError:
            return False
    if not isinstance(expected, datetime):
        return isinstance(actual, date) and (actual.year, actual.month, actual.day) == (
            expected.year,
            expected.month,
            expected.day,
        )
    if not isinstance(actual, datetime):
        return False
    if (expected.tzinfo is None) != (actual.tzinfo is None):
        expected, actual = expected.replace(tzinfo=None), actual.replace(tzinfo=None)
    return expected == actual


def assign_distinct(expected: Sequence[Any], actual: Sequence[Any]) -> dict[int, int] | None:
    """A matching pairing each expected item with its own actual item (expected index → actual index).

    ``None`` when the counts differ or no pairing gives every expected item a distinct match; found by
    augmenting paths, so an early greedy choice never hides a pairing that exists.
    """
    if len(expected) != len(actual):
        return None
    candidates = [[j for j, a in enumerate(actual) if matches(e, a)] for e in expected]
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        if not place(i, set()):
            return None
    return {i: j for j, i in owner.items()}


def project(actual: Any, shape: Any) -> Any:
    """``actual`` cut down to the keys ``shape`` names, so a diff shows only the fields compared."""
    if isinstance(shape, Mapping) and isinstance(actual, Mapping):
        return {key: project(actual.get(key), value) for key, value in shape.items()}
    return actual


def project_records(actual: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]) -> list[Any]:
    shape: dict[str, Any] = {}
    for record in expected:
        for key, value in record.items():
            shape[key] = _merge_shapes(shape.get(key), value)
    if not shape:
        return [dict(record) for record in actual]
    return [project(record, shape) for record in actual]


def _merge_shapes(left: Any, right: Any) -> Any:
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        merged = dict(left)
        for key, value in right.items():
            merged[key] = _merge_shapes(merged.get(key), value)
        return merged
    return right if right is not None else left


def to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        # str subclasses (langchain's message text accessor) are not representable by the safe dumper.
        return str(value)
    return value


def render(value: Any) -> str:
    return yaml.safe_dump(to_plain(value), sort_keys=False, allow_unicode=True, width=100).rstrip("\n")


def diff(expected: Any, actual: Any) -> str:
    """A unified diff of the YAML renderings; lines starting ``-`` are expected, ``+`` actual."""
    lines = difflib.unified_diff(
        render(expected).splitlines(), render(actual).splitlines(), "expected", "actual", lineterm="", n=3
    )
    return "\n".join(lines)
