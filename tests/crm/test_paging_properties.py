"""Keyset paging never repeats or skips a row, whatever the data, the sort and the page size."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_tools.backends import CRMBackend
from tests.crm.conftest import created

DIRECTIONS = ["AscNullsFirst", "AscNullsLast", "DescNullsFirst", "DescNullsLast", "ASC", "DESC"]
# Few distinct values, so that ties and NULLs are the rule rather than the exception.
FIRST_NAMES = st.one_of(st.none(), st.sampled_from(["Ana", "ana", "Ben", "Émile", "Zoë"]))
CITIES = st.one_of(st.none(), st.sampled_from(["", "Paris", "Berlin"]))
PERSON_SORT_FIELDS = ["name.firstName", "name.lastName", "city", "companyId", "createdAt", "jobTitle"]

people_rows = st.lists(
    st.fixed_dictionaries(
        {
            "first": FIRST_NAMES,
            "last": st.sampled_from(["Smith", "Lee", None]),
            "city": CITIES,
            "company": st.integers(min_value=-1, max_value=2),
            "day": st.integers(min_value=1, max_value=3),
        }
    ),
    min_size=0,
    max_size=14,
)
sorts = st.lists(
    st.tuples(st.sampled_from(PERSON_SORT_FIELDS), st.sampled_from(DIRECTIONS)),
    max_size=3,
    unique_by=lambda t: t[0],
)

PROPERTY_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _load(backend: CRMBackend, rows: list[dict[str, Any]]) -> str:
    """Create the rows under a fresh job title, so that examples sharing a store never mix."""
    tag = uuid.uuid4().hex
    companies = [created(backend.create("company", {"name": f"c{n}-{tag}"}))["id"] for n in range(3)]
    for row in rows:
        if row["first"] is None and row["last"] is None:
            row["last"] = "Smith"
        backend.create(
            "person",
            {
                "name": {"firstName": row["first"], "lastName": row["last"]},
                "city": row["city"],
                "jobTitle": tag,
                "companyId": companies[row["company"]] if row["company"] >= 0 else None,
                "createdAt": f"2026-03-0{row['day']}T12:00:00Z",
            },
        )
    return tag


def _ids(body: dict[str, Any]) -> list[str]:
    return [r["id"] for r in body["data"]["people"]]


@PROPERTY_SETTINGS
@given(rows=people_rows, sort=sorts, page=st.integers(min_value=1, max_value=5))
def test_walking_forward_then_backward_yields_every_row_once_each_way(
    backend: CRMBackend, rows: list[dict[str, Any]], sort: list[tuple[str, str]], page: int
) -> None:
    tag = _load(backend, rows)
    query = {"filter": f"jobTitle[eq]:{tag}", "order_by": ",".join(f"{f}[{d}]" for f, d in sort) or None}
    everything = _ids(backend.list("person", limit=200, **query))
    assert len(everything) == len(rows) == len(set(everything))

    forward: list[str] = []
    body = backend.list("person", limit=page, **query)
    pages = [body]
    while body["pageInfo"]["hasNextPage"]:
        body = backend.list("person", limit=page, starting_after=body["pageInfo"]["endCursor"], **query)
        pages.append(body)
    for number, each in enumerate(pages):
        forward += _ids(each)
        assert each["totalCount"] == len(rows)
        if number < len(pages) - 1:
            assert len(_ids(each)) == page
    assert forward == everything

    if not everything:
        return
    backward: list[str] = []
    body = backend.list("person", limit=page, ending_before=pages[-1]["pageInfo"]["endCursor"], **query)
    backward = _ids(body)
    while body["pageInfo"]["hasPreviousPage"]:
        body = backend.list("person", limit=page, ending_before=body["pageInfo"]["startCursor"], **query)
        backward = _ids(body) + backward
    assert [*backward, everything[-1]] == everything
