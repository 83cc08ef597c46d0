"""The one case-insensitive text comparison of the CRM (``ilike``), the same on SQLite and PostgreSQL.

Text is folded to Unicode lower case (the full mapping, final sigma included, as Python's
``str.lower`` and ICU's root locale do it), then a final ``ς`` becomes ``σ`` so a pattern cut
mid-word still matches. PostgreSQL folds with ``lower(col COLLATE "und-x-icu")``: the database's own
``lower`` depends on its locale (ASCII only under ``C``; ``İ`` differs under glibc's ``C.UTF-8``),
while ICU agrees with Python on every code point. SQLite's LIKE folds ASCII only, so each SQLite
connection gets ``converso_fold``, this module's ``fold_case``, as a deterministic SQL function.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

SQLITE_FUNCTION = "converso_fold"
POSTGRES_COLLATION = "und-x-icu"


def fold_case(text: str | None) -> str | None:
    return None if text is None else text.lower().replace("ς", "σ")


def register_fold(conn: sqlite3.Connection) -> None:
    """Make ``converso_fold(text)`` available to the statements and indexes of ``conn``."""
    conn.create_function(SQLITE_FUNCTION, 1, fold_case, deterministic=True)


def folded_sql(column: str, *, sqlite: bool) -> str:
    """SQL text folding the (quoted) ``column``: the same expression as ``folded`` indexes."""
    if sqlite:
        return f"{SQLITE_FUNCTION}({column})"
    return f"translate(lower({column} COLLATE \"{POSTGRES_COLLATION}\"), 'ς', 'σ')"


def folded(column: Any, *, sqlite: bool) -> ColumnElement[Any]:
    """The folding as a SQLAlchemy expression, for the indexes behind prefix ``ilike``."""
    if sqlite:
        return getattr(func, SQLITE_FUNCTION)(column)
    return func.translate(func.lower(column.collate(POSTGRES_COLLATION)), "ς", "σ")


def prefix_bounds(pattern: str) -> tuple[str, str | None] | None:
    """``(low, high)`` such that every text matching the LIKE ``pattern`` lies in ``[low, high)``
    (``high`` None: no upper bound), or None when the pattern starts with a wildcard.

    SQLite uses an index for LIKE only on a plain column; on an expression it needs the range.
    """
    cut = min((i for i, ch in enumerate(pattern) if ch in "%_"), default=len(pattern))
    prefix = pattern[:cut]
    if not prefix:
        return None
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000
    return prefix, (prefix[:-1] + chr(last)) if last <= 0x10FFFF else None
