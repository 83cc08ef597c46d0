"""``ilike`` finds the same rows on SQLite and PostgreSQL for any Unicode text.

SQLite's own LIKE folds ASCII only, so ``name[ilike]:"école sarl%"`` missed ``ÉCOLE sarl``, which
PostgreSQL found. Both stores now compare text folded to Unicode lower case (``_case_fold``); a
property test stores random Unicode names in both and asks both the same patterns, against a
reference written in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_tools.backends._case_fold import fold_case
from crm_tools.backends.sql import SqlBackend
from crm_tools.errors import CRMError

pytestmark = pytest.mark.postgres


@pytest.fixture
def stores(
    tmp_path: pytest.TempPathFactory, postgres_database: str, postgres_schema: str
) -> Iterator[list[SqlBackend]]:
    both = [
        SqlBackend(f"sqlite:///{tmp_path / 'crm.sqlite3'}"),
        SqlBackend(postgres_database, schema=postgres_schema),
    ]
    yield both
    for store in both:
        store.close()


def found(store: SqlBackend, pattern: str) -> list[str]:
    body = store.list("company", filter=f'name[ilike]:"{pattern}"', limit=200)
    return sorted(company["name"] for company in body["data"]["companies"])


def like(pattern: str, text: str) -> bool:
    """LIKE as documented: ``%`` any run, ``_`` one character, everything else literal."""
    regex = "".join({"%": ".*", "_": "."}.get(ch, re.escape(ch)) for ch in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def test_an_accented_capital_matches_its_small_letter_on_both_stores(stores: list[SqlBackend]) -> None:
    for store in stores:
        store.create("company", {"name": "ÉCOLE sarl"})
        store.create("company", {"name": "Straße"})
        store.create("company", {"name": "ΟΔΟΣ"})
        assert found(store, "école sarl%") == ["ÉCOLE sarl"]
        assert found(store, "%STRASSE%") == []  # lower case, not case folding: ß is not ss
        assert found(store, "straSSe") == []
        assert found(store, "STRAßE") == ["Straße"]
        assert found(store, "%οσ%") == ["ΟΔΟΣ"]  # a final sigma is compared as σ
        assert found(store, "%ΟΔΟΣ") == ["ΟΔΟΣ"]


text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters='\x00"'), min_size=1, max_size=6
)


@st.composite
def names_and_patterns(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    names = draw(st.lists(text, min_size=1, max_size=5))
    patterns = []
    for _ in range(3):
        name = draw(st.sampled_from(names))
        start = draw(st.integers(0, len(name)))
        end = draw(st.integers(start, len(name)))
        part = name[start:end]
        part = draw(st.sampled_from([part, part.upper(), part.lower(), part.swapcase(), part.title()]))
        prefix, suffix = draw(st.sampled_from(["", "%"])), draw(st.sampled_from(["", "%", "_%"]))
        patterns.append(f"{prefix}{part}{suffix}" or "%")
    patterns.append(draw(text))
    return names, patterns


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=names_and_patterns())
def test_both_stores_find_the_same_rows_for_any_unicode_text(
    stores: list[SqlBackend], case: tuple[list[str], list[str]]
) -> None:
    names, patterns = case
    created: dict[int, list[str]] = {}
    stored: list[str] = []
    for position, store in enumerate(stores):
        ids = []
        for name in names:
            try:
                record = store.create("company", {"name": name})["data"]["createCompany"]
            except CRMError:
                continue
            ids.append(record["id"])
            if position == 0:
                stored.append(record["name"])
        created[position] = ids
    try:
        for pattern in patterns:
            try:
                expected = sorted(n for n in stored if like(fold_case(pattern), fold_case(n)))
            except re.error:
                continue
            assert [found(store, pattern) for store in stores] == [expected, expected], pattern
    finally:
        for position, store in enumerate(stores):
            for record_id in created[position]:
                store.delete("company", record_id)
