"""Hostile and random filter strings: only CRMError ever escapes, and values never become SQL."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_tools.backends import CRMBackend
from crm_tools.errors import CRMError
from crm_tools.query import COMPARATORS
from tests.crm.conftest import created

FIELDS = [
    "name",
    "employees",
    "idealCustomerProfile",
    "createdAt",
    "id",
    "domainName.primaryLinkUrl",
    "annualRecurringRevenue.amountMicros",
    "address",
    "nope",
    "people.name",
]
TOKENS = [
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    '"',
    "'",
    "and",
    "or",
    "not",
    "NULL",
    "NOT_NULL",
    "%",
    "_",
    "\\",
    "\x00",
    "é",
    "1",
    "-1",
    "2026-01-01",
    "true",
    " ",
    ";",
    "--",
    "DROP TABLE companies",
]

values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "1",
            "1e309",
            "nan",
            "true",
            "NULL",
            "[1,2]",
            "[]",
            "2026-13-45",
            str(uuid.UUID(int=7)),
            "9" * 40,
            "-0",
            "0x10",
            "'",
            '"',
            "\\",
            "%_",
            "[a,'b]",
        ]
    ),
)
predicates = st.builds(
    lambda f, c, v: f"{f}[{c}]:{v}",
    st.sampled_from(FIELDS),
    st.sampled_from([*COMPARATORS, "contains", "EQ", ""]),
    values,
)
filters = st.recursive(
    predicates,
    lambda inner: st.one_of(
        st.builds(
            lambda op, xs: f"{op}({','.join(xs)})",
            st.sampled_from(["and", "or", "not"]),
            st.lists(inner, max_size=3),
        ),
        st.builds(",".join, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)
noise = st.lists(st.sampled_from(TOKENS + FIELDS + list(COMPARATORS)), max_size=12).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(filters, noise, st.text(max_size=30)))
def test_random_filters_only_ever_raise_crm_errors(backend: CRMBackend, text: str) -> None:
    try:
        body = backend.list("company", filter=text, limit=5)
    except CRMError as exc:
        assert exc.status_code == 400 and exc.message
    else:
        assert isinstance(body["totalCount"], int)


HOSTILE = [
    "'; DROP TABLE companies; --",
    'Robert"); DROP TABLE people;--',
    'O\'Brien & "Sons"',
    "100% real_deal",
    "back\\slash\\",
    "\\%",
    "1 OR 1=1",
    "Zoë – 北京 🚀",
    "a) or (1=1",
    "]',[\"",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_sql_in_values_is_matched_literally_or_refused(backend: CRMBackend, hostile: str) -> None:
    target = created(backend.create("company", {"name": hostile}))
    backend.create("company", {"name": "Bystander"})
    for text in (f'name[eq]:"{hostile}"', f"name[eq]:'{hostile}'", f'name[startsWith]:"{hostile}"'):
        try:
            found = backend.list("company", filter=text)["data"]["companies"]
        except CRMError:
            continue
        assert [c["id"] for c in found] == [target["id"]]
    assert backend.list("company")["totalCount"] == 2


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_in_every_comparator_never_escape_as_sql(backend: CRMBackend, hostile: str) -> None:
    backend.create("company", {"name": "Bystander", "employees": 3})
    for comparator in COMPARATORS:
        value = f"[{hostile}]" if comparator in ("in", "containsAny") else hostile
        with contextlib.suppress(CRMError):
            backend.list("company", filter=f"name[{comparator}]:{value}")
    assert backend.list("company", filter="employees[eq]:3")["totalCount"] == 1


def test_nul_in_a_filter_value_is_refused(backend: CRMBackend) -> None:
    with pytest.raises(CRMError, match="NUL"):
        backend.list("company", filter="name[eq]:a\x00b")


def test_like_wildcards_are_the_callers_and_backslash_is_literal(backend: CRMBackend) -> None:
    backend.create("company", {"name": "a\\b"})
    backend.create("company", {"name": "axb"})
    assert [c["name"] for c in backend.list("company", filter="name[like]:a\\b")["data"]["companies"]] == [
        "a\\b"
    ]
    assert backend.list("company", filter="name[like]:a_b")["totalCount"] == 2


@pytest.mark.parametrize(
    "text", ["employees[gt]:" + "9" * 40, "annualRecurringRevenue.amountMicros[in]:[1," + "9" * 30 + "]"]
)
def test_numbers_beyond_64_bits_are_refused(backend: CRMBackend, text: str) -> None:
    with pytest.raises(CRMError, match="limited to ±9223372036854775807"):
        backend.list("company", filter=text)
