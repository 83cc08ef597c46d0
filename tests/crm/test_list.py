"""List queries against real stores: every docs/crm.md filter vector, ordering, paging and depth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crm_tools.backends import CRMBackend
from crm_tools.backends.env_client import EnvBackend
from crm_tools.errors import CRMError

Make = Callable[..., dict[str, Any]]


def names(body: dict[str, Any]) -> list[str]:
    records = next(iter(body["data"].values()))
    return [r["name"] if isinstance(r["name"], str) else r["name"]["firstName"] for r in records]


@pytest.fixture
def companies(backend: CRMBackend, make: Make) -> dict[str, dict[str, Any]]:
    rows = [
        dict(name="Acme, Inc", employees=150, idealCustomerProfile=True, createdAt="2026-01-10T10:00:00Z"),
        dict(name="acme labs", employees=100, idealCustomerProfile=False, createdAt="2026-01-31T23:59:59Z"),
        dict(name="Beta", employees=500, idealCustomerProfile=True, createdAt="2026-02-01T00:00:00Z"),
        dict(name="Gamma", employees=None, idealCustomerProfile=True, createdAt="2025-12-31T23:59:59Z"),
        dict(name="Delta", employees=99, idealCustomerProfile=True, createdAt="2026-01-01T00:00:00Z"),
    ]
    if isinstance(backend, EnvBackend):
        # The env protocol cannot set createdAt; the tests that query it are skipped there.
        rows = [{key: value for key, value in row.items() if key != "createdAt"} for row in rows]
    return {row["name"]: make("company", **row) for row in rows}


def test_eq_with_a_quoted_comma(backend: CRMBackend, companies: dict) -> None:
    assert names(backend.list("company", filter='name[eq]:"Acme, Inc"')) == ["Acme, Inc"]


def test_and_of_a_number_and_a_boolean(backend: CRMBackend, companies: dict) -> None:
    body = backend.list("company", filter="employees[gte]:100,idealCustomerProfile[eq]:true", order_by="name")
    assert names(body) == ["Acme, Inc", "Beta"]


def test_dates_select_january_2026(backend: CRMBackend, companies: dict) -> None:
    body = backend.list(
        "company", filter='createdAt[gte]:"2026-01-01",createdAt[lt]:"2026-02-01"', order_by="createdAt"
    )
    assert names(body) == ["Delta", "Acme, Inc", "acme labs"]


def test_in_and_or_on_opportunities(backend: CRMBackend, make: Make) -> None:
    make("opportunity", name="a", stage="NEW", amount={"amountMicros": 10})
    make("opportunity", name="b", stage="MEETING")
    make("opportunity", name="c", stage="WON")
    make("opportunity", name="d", stage="LOST", amount={"amountMicros": 2_000_000_000})
    make("opportunity", name="e", stage="PROPOSAL", amount={"amountMicros": 1_000_000_000})
    assert names(backend.list("opportunity", filter="stage[in]:[NEW,MEETING]", order_by="name")) == ["a", "b"]
    body = backend.list(
        "opportunity", filter="or(stage[eq]:WON,amount.amountMicros[gt]:1000000000)", order_by="name"
    )
    assert names(body) == ["c", "d"]


def test_nested_groups_on_people(backend: CRMBackend, make: Make) -> None:
    make("person", name={"firstName": "John"}, emails={"primaryEmail": "john@x.com"})
    make("person", name={"firstName": "Joanna"})
    make("person", name={"firstName": "MAJOR"}, emails={"primaryEmail": "major@x.com"})
    make("person", name={"firstName": "Ana"}, emails={"primaryEmail": "ana@x.com"})
    body = backend.list(
        "person",
        filter='and(name.firstName[ilike]:"%jo%",not(emails.primaryEmail[is]:NULL))',
        order_by="name.firstName",
    )
    assert names(body) == ["John", "MAJOR"]


def test_ilike_is_case_insensitive_and_like_is_not(backend: CRMBackend, companies: dict) -> None:
    assert names(backend.list("company", filter='name[ilike]:"ACME%"', order_by="name")) == [
        "Acme, Inc",
        "acme labs",
    ]
    assert names(backend.list("company", filter='name[like]:"acme%"')) == ["acme labs"]
    assert names(backend.list("company", filter="name[like]:_eta")) == ["Beta"]


def test_starts_and_ends_with_are_case_sensitive_and_literal(backend: CRMBackend, make: Make) -> None:
    make("company", name="50% off")
    make("company", name="5000 units")
    make("company", name="Cheap_Stuff")
    assert names(backend.list("company", filter="name[startsWith]:50%")) == ["50% off"]
    assert names(backend.list("company", filter="name[endsWith]:_Stuff")) == ["Cheap_Stuff"]
    assert names(backend.list("company", filter="name[endsWith]:_stuff")) == []


def test_contains_any_matches_any_listed_substring(backend: CRMBackend, companies: dict) -> None:
    body = backend.list("company", filter="name[containsAny]:[eta,amm]", order_by="name")
    assert names(body) == ["Beta", "Gamma"]


def test_neq_keeps_rows_where_the_field_is_empty(backend: CRMBackend, companies: dict) -> None:
    body = backend.list("company", filter="employees[neq]:100", order_by="name")
    assert names(body) == ["Acme, Inc", "Beta", "Delta", "Gamma"]


def test_not_of_eq_keeps_rows_where_the_field_is_empty(backend: CRMBackend, companies: dict) -> None:
    body = backend.list("company", filter="not(employees[gte]:100)", order_by="name")
    assert names(body) == ["Delta", "Gamma"]


def test_empty_text_counts_as_null(backend: CRMBackend, make: Make) -> None:
    make("person", name={"firstName": "Ana"}, jobTitle="CEO")
    make("person", name={"firstName": "Ben"}, jobTitle="   ")
    make("person", name={"firstName": "Cy"})
    assert names(backend.list("person", filter="jobTitle[is]:NULL", order_by="name.firstName")) == [
        "Ben",
        "Cy",
    ]
    assert names(backend.list("person", filter="jobTitle[is]:NOT_NULL")) == ["Ana"]


def test_one_hop_across_company(backend: CRMBackend, make: Make) -> None:
    acme = make("company", name="Acme Corp")
    other = make("company", name="Other")
    make("person", name={"firstName": "Ana"}, companyId=acme["id"])
    make("person", name={"firstName": "Ben"}, companyId=other["id"])
    make("person", name={"firstName": "Cy"})
    assert names(backend.list("person", filter='company.name[ilike]:"%acme%"')) == ["Ana"]
    assert names(backend.list("person", filter=f"companyId[eq]:{other['id']}")) == ["Ben"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("company.name[eq]:Acme,company.employees[gte]:10", ["Ana"]),
        ("and(company.name[eq]:Acme,or(company.employees[gt]:100,company.name[eq]:Other))", []),
        ("or(company.name[eq]:Acme,company.name[eq]:Other)", ["Ana", "Ben"]),
        ("or(company.name[eq]:Acme,name.firstName[eq]:Cy)", ["Ana", "Cy"]),
        ("and(or(company.name[eq]:Acme),or(company.employees[lt]:100))", ["Ana"]),
        ("not(company.name[eq]:Acme)", ["Ben", "Cy"]),
        ("not(or(company.name[eq]:Acme,company.name[eq]:Other))", ["Cy"]),
        ("company.name[neq]:Acme", ["Ben"]),
    ],
)
def test_conditions_across_one_relation_combine_like_separate_ones(
    backend: CRMBackend, make: Make, text: str, expected: list[str]
) -> None:
    # The store writes the conditions of one group on one relation as one subquery.
    acme = make("company", name="Acme", employees=50)
    other = make("company", name="Other", employees=5)
    make("person", name={"firstName": "Ana"}, companyId=acme["id"])
    make("person", name={"firstName": "Ben"}, companyId=other["id"])
    make("person", name={"firstName": "Cy"})
    assert names(backend.list("person", filter=text, order_by="name.firstName")) == expected


def test_filter_errors_reach_the_caller_as_400(backend: CRMBackend) -> None:
    with pytest.raises(CRMError) as info:
        backend.list("opportunity", filter="stage[in]:NEW")
    assert info.value.body() == {
        "statusCode": 400,
        "error": "BadRequestException",
        "messages": [
            "'filter' invalid for 'in' operator. Received 'NEW' but array value expected eg: 'stage[in]:[NEW,WON]'"
        ],
        "code": "INVALID_FILTER",
    }


def test_order_by_each_item_with_its_direction(backend: CRMBackend, companies: dict) -> None:
    assert names(backend.list("company", order_by="employees[DescNullsLast]")) == [
        "Beta",
        "Acme, Inc",
        "acme labs",
        "Delta",
        "Gamma",
    ]
    assert names(backend.list("company", order_by="employees[DescNullsFirst]"))[0] == "Gamma"
    assert names(backend.list("company", order_by="employees[AscNullsLast]"))[-1] == "Gamma"
    assert names(backend.list("company", order_by="employees"))[0] == "Gamma"


def test_no_order_by_means_id_ascending(backend: CRMBackend, companies: dict) -> None:
    ids = [c["id"] for c in backend.list("company")["data"]["companies"]]
    assert ids == sorted(ids)


def test_list_body_shape_and_total_count(backend: CRMBackend, companies: dict) -> None:
    body = backend.list("company", limit=2, order_by="name")
    assert set(body) == {"data", "totalCount", "pageInfo"}
    assert len(body["data"]["companies"]) == 2
    assert body["totalCount"] == 5
    assert body["pageInfo"]["hasNextPage"] is True
    assert body["pageInfo"]["hasPreviousPage"] is False


def test_paging_forward_and_back_by_cursor(backend: CRMBackend, companies: dict) -> None:
    first = backend.list("company", limit=2, order_by="employees[DescNullsLast]")
    second = backend.list(
        "company", limit=2, order_by="employees[DescNullsLast]", starting_after=first["pageInfo"]["endCursor"]
    )
    third = backend.list(
        "company",
        limit=2,
        order_by="employees[DescNullsLast]",
        starting_after=second["pageInfo"]["endCursor"],
    )
    assert names(first) + names(second) + names(third) == ["Beta", "Acme, Inc", "acme labs", "Delta", "Gamma"]
    assert third["pageInfo"]["hasNextPage"] is False and second["pageInfo"]["hasPreviousPage"] is True
    back = backend.list(
        "company",
        limit=2,
        order_by="employees[DescNullsLast]",
        ending_before=third["pageInfo"]["startCursor"],
    )
    assert names(back) == ["acme labs", "Delta"]
    assert back["pageInfo"]["hasPreviousPage"] is True


def test_last_full_page_has_no_next_page(backend: CRMBackend, companies: dict) -> None:
    body = backend.list("company", limit=5)
    assert len(body["data"]["companies"]) == 5 and body["pageInfo"]["hasNextPage"] is False


def test_empty_list_has_no_cursors(backend: CRMBackend) -> None:
    body = backend.list("company")
    assert body == {
        "data": {"companies": []},
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }


def test_limit_above_200_is_clamped(backend: CRMBackend, make: Make) -> None:
    for n in range(3):
        make("note", title=f"n{n}")
    assert len(backend.list("note", limit=10_000)["data"]["notes"]) == 3


def test_negative_limit_is_an_error(backend: CRMBackend) -> None:
    with pytest.raises(CRMError, match="'limit' invalid"):
        backend.list("company", limit=-5)


def test_list_with_depth_one_embeds_relations(backend: CRMBackend, make: Make) -> None:
    acme = make("company", name="Acme")
    make("person", name={"firstName": "Ana"}, companyId=acme["id"])
    make("person", name={"firstName": "Cy"})
    people = backend.list("person", depth=1, order_by="name.firstName")["data"]["people"]
    assert people[0]["company"]["name"] == "Acme"
    assert people[1]["company"] is None
    assert people[0]["noteTargets"] == []
    assert "company" not in backend.list("person", depth=0)["data"]["people"][0]
