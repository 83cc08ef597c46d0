"""The filter size limits: every filter the grammar accepts runs on both stores, every larger one is a 400.

The attack run found filters the grammar took and the database then refused (an AND of 500
conditions or a 1,000-item ``containsAny`` on SQLite, ``not`` nested 21 deep, ``in`` with 70,000
items on PostgreSQL). Here hypothesis walks the three limits, on and just beyond each, through the
worst shapes: conditions across a relation (a subquery each), ``neq`` (two comparisons each), groups
of every kind inside one another.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_tools.backends.sql import SqlBackend
from crm_tools.errors import CRMError
from crm_tools.query import MAX_FILTER_CONDITIONS, MAX_FILTER_NESTING, MAX_FILTER_VALUES

SCALAR_CONDITIONS = [
    "company.name[neq]:x",
    "company.employees[gte]:10",
    'name.firstName[ilike]:"%a%"',
    "emails.primaryEmail[is]:NULL",
    "city[startsWith]:Ber",
    "createdAt[lt]:2030-01-01",
]
LISTS = {
    "company.name[containsAny]": lambda i: f"n{i}",
    "name.lastName[containsAny]": lambda i: f"n{i}",
    "company.id[in]": lambda i: str(uuid.UUID(int=i)),
    "jobTitle[in]": lambda i: f"t{i}",
}


def around(limit: int, low: int = 1) -> st.SearchStrategy[int]:
    """Mostly at and just beyond ``limit``, sometimes anywhere below it."""
    return st.one_of(st.sampled_from([limit - 1, limit, limit + 1]), st.integers(low, limit + 1))


@st.composite
def sized_filters(draw: st.DrawFn) -> tuple[str, int, int, int]:
    nesting = draw(around(MAX_FILTER_NESTING, 0))
    conditions = draw(around(MAX_FILTER_CONDITIONS))
    values = draw(around(MAX_FILTER_VALUES, conditions))
    operators = draw(st.lists(st.sampled_from(["and", "or", "not"]), min_size=nesting, max_size=nesting))
    # The first condition carries a list with the values the others leave over.
    list_field = draw(st.sampled_from(sorted(LISTS)))
    items = ",".join(LISTS[list_field](i) for i in range(values - conditions + 1))
    others = [draw(st.sampled_from(SCALAR_CONDITIONS)) for _ in range(conditions - 1)]
    node, siblings = f"{list_field}:[{items}]", others
    for operator in reversed(operators):
        if operator == "not":
            node = f"not({node})"
        else:
            node, siblings = f"{operator}({','.join([node, *siblings])})", []
    return ",".join([node, *siblings]), nesting, conditions, values


STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[SqlBackend]:
    if request.param == "sqlite":
        crm = SqlBackend(f"sqlite:///{request.getfixturevalue('tmp_path') / 'crm.sqlite3'}")
    else:
        crm = SqlBackend(
            request.getfixturevalue("postgres_database"), schema=request.getfixturevalue("postgres_schema")
        )
    company = crm.create("company", {"name": "n1", "employees": 50})["data"]["createCompany"]
    crm.create("person", {"name": {"firstName": "Ada", "lastName": "n2"}, "companyId": company["id"]})
    yield crm
    crm.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sized=sized_filters())
def test_the_store_runs_every_filter_within_the_limits_and_refuses_the_rest(
    store: SqlBackend, sized: tuple[str, int, int, int]
) -> None:
    text, nesting, conditions, values = sized
    within = (
        nesting <= MAX_FILTER_NESTING and conditions <= MAX_FILTER_CONDITIONS and values <= MAX_FILTER_VALUES
    )
    if within:
        body = store.list("person", filter=text, limit=5)
        assert body["totalCount"] >= 0
    else:
        with pytest.raises(CRMError) as refused:
            store.list("person", filter=text, limit=5)
        assert refused.value.status_code == 400 and "'filter' too large" in refused.value.message


ATTACK_RUN = {
    "and-500": ",".join(f"name.firstName[eq]:a{i}" for i in range(500)),
    "or-500": "or(" + ",".join(f"name.firstName[eq]:a{i}" for i in range(500)) + ")",
    "containsAny-1000": "name.firstName[containsAny]:[" + ",".join(f"a{i}" for i in range(1000)) + "]",
    "not-21": "not(" * 21 + "name.firstName[eq]:a" + ")" * 21,
    "not-32": "not(" * 32 + "name.firstName[eq]:a" + ")" * 32,
    "in-70000": "jobTitle[in]:[" + ",".join(f"t{i}" for i in range(70_000)) + "]",
    "ilike-60000": "name.firstName[ilike]:%" + "é" * 60_000 + "%",
    "containsAny-item-60000": "name.firstName[containsAny]:[" + "*" * 60_000 + "]",
}


@pytest.mark.parametrize("text", ATTACK_RUN.values(), ids=ATTACK_RUN.keys())
def test_the_attack_runs_wide_filters_are_a_400_not_a_database_error(store: SqlBackend, text: str) -> None:
    with pytest.raises(CRMError) as refused:
        store.list("person", filter=text)
    assert refused.value.status_code == 400 and "'filter' too large" in refused.value.message
