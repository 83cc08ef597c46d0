"""The list query grammar of docs/crm.md, parsed without any store: test vectors and error messages."""

from __future__ import annotations

from datetime import datetime

import pytest

from crm_tools.errors import CRMError
from crm_tools.models import DEFAULT_OPTIONS
from crm_tools.query import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_NESTING,
    MAX_FILTER_VALUES,
    Group,
    Predicate,
    decode_cursor,
    encode_cursor,
    list_arguments,
    parse_filter,
    parse_limit,
    parse_list_query,
    parse_order_by,
    split_top_level,
)


def p(node: object) -> tuple[str, str, object]:
    assert isinstance(node, Predicate)
    return (node.field.path, node.comparator, node.value)


# -- the test vectors of docs/crm.md ---------------------------------------------------------------


def test_quoted_value_keeps_its_comma() -> None:
    assert p(parse_filter("company", 'name[eq]:"Acme, Inc"')) == ("name", "eq", "Acme, Inc")


def test_top_level_comma_ands_a_number_and_a_boolean() -> None:
    node = parse_filter("company", "employees[gte]:100,idealCustomerProfile[eq]:true")
    assert isinstance(node, Group) and node.operator == "and"
    assert [p(item) for item in node.items] == [
        ("employees", "gte", 100),
        ("idealCustomerProfile", "eq", True),
    ]


def test_in_takes_a_list_of_options() -> None:
    assert p(parse_filter("opportunity", "stage[in]:[NEW,MEETING]")) == ("stage", "in", ("NEW", "MEETING"))


def test_or_group_with_a_composite_subfield() -> None:
    node = parse_filter("opportunity", "or(stage[eq]:WON,amount.amountMicros[gt]:1000000000)")
    assert isinstance(node, Group) and node.operator == "or"
    assert [p(item) for item in node.items] == [
        ("stage", "eq", "WON"),
        ("amount.amountMicros", "gt", 1_000_000_000),
    ]


def test_nested_and_not_groups() -> None:
    node = parse_filter("person", 'and(name.firstName[ilike]:"%jo%",not(emails.primaryEmail[is]:NULL))')
    assert isinstance(node, Group) and node.operator == "and"
    first, negated = node.items
    assert p(first) == ("name.firstName", "ilike", "%jo%")
    assert isinstance(negated, Group) and negated.operator == "not"
    assert p(negated.items[0]) == ("emails.primaryEmail", "is", "NULL")


def test_dates_bound_a_month() -> None:
    node = parse_filter("company", 'createdAt[gte]:"2026-01-01",createdAt[lt]:"2026-02-01"')
    assert isinstance(node, Group)
    assert [p(item) for item in node.items] == [
        ("createdAt", "gte", datetime(2026, 1, 1)),
        ("createdAt", "lt", datetime(2026, 2, 1)),
    ]


ERROR_VECTORS = [
    (
        "opportunity",
        "stage[in]:NEW",
        "'filter' invalid for 'in' operator. Received 'NEW' but array value expected eg: 'stage[in]:[NEW,WON]'",
    ),
    (
        "company",
        "name[contains]:x",
        "'filter' invalid: 'contains' is not a comparator. Accepted: eq, neq, gt",
    ),
    ("company", "not(name[eq]:1,employees[eq]:2)", "not(...) takes exactly one condition, received 2"),
    ("company", "name[eq]:x)", "'filter' invalid: unbalanced ')' at position 10 in 'name[eq]:x)'"),
    (
        "opportunity",
        "stage[eq]:FOO",
        "'filter' invalid for field 'stage': received 'FOO' but it is not an option. "
        "Accepted: NEW, MEETING, PROPOSAL, WON, LOST",
    ),
    (
        "company",
        "name[is]:null",
        "'filter' invalid for 'is' operator. Received 'null' but NULL or NOT_NULL expected eg: 'name[is]:NULL'",
    ),
]


@pytest.mark.parametrize(("object_name", "text", "message"), ERROR_VECTORS, ids=[v[1] for v in ERROR_VECTORS])
def test_error_vectors_each_have_their_own_message(object_name: str, text: str, message: str) -> None:
    with pytest.raises(CRMError) as info:
        parse_filter(object_name, text)
    assert info.value.status_code == 400
    assert info.value.body()["error"] == "BadRequestException"
    assert message in info.value.message


def test_error_vector_messages_are_distinct() -> None:
    messages = set()
    for object_name, text, _ in ERROR_VECTORS:
        with pytest.raises(CRMError) as info:
            parse_filter(object_name, text)
        messages.add(info.value.message)
    assert len(messages) == len(ERROR_VECTORS)


# -- more of the grammar ----------------------------------------------------------------------


def test_values_may_contain_colons() -> None:
    assert p(parse_filter("company", "name[eq]:a:b:c")) == ("name", "eq", "a:b:c")


def test_single_quotes_are_stripped_once() -> None:
    assert p(parse_filter("company", "name[eq]:'\"x\"'")) == ("name", "eq", '"x"')


def test_apostrophe_inside_an_unquoted_word_is_literal() -> None:
    assert p(parse_filter("person", "name.lastName[eq]:O'Brien")) == ("name.lastName", "eq", "O'Brien")


def test_in_items_are_trimmed_and_unquoted_one_by_one() -> None:
    node = parse_filter("company", "name[in]:[ \"a, b\" , 'c' ,d ]")
    assert p(node) == ("name", "in", ("a, b", "c", "d"))


def test_several_top_level_groups_are_anded() -> None:
    node = parse_filter("company", "or(name[eq]:a,name[eq]:b),or(employees[eq]:1,employees[eq]:2)")
    assert isinstance(node, Group) and node.operator == "and" and len(node.items) == 2


def test_commas_inside_brackets_do_not_split() -> None:
    assert split_top_level("a[in]:[1,2],b[eq]:3") == ["a[in]:[1,2]", "b[eq]:3"]


def test_one_hop_across_a_relation() -> None:
    node = parse_filter("person", 'company.name[ilike]:"%acme%"')
    assert isinstance(node, Predicate)
    assert node.field.relation is not None and node.field.relation.target == "company"
    assert node.field.leaf.column == "name"


def test_join_columns_are_filterable_by_name() -> None:
    company = "3b1f8b1e-6a8e-4e55-9d0c-1e2f3a4b5c6d"
    assert p(parse_filter("person", f"companyId[eq]:{company}")) == ("companyId", "eq", company)


@pytest.mark.parametrize(
    ("object_name", "text", "message"),
    [
        (
            "company",
            "employees[gte]:many",
            "'filter' invalid for field 'employees': received 'many' but a number",
        ),
        ("company", "idealCustomerProfile[eq]:yes", "true or false was expected"),
        ("person", "companyId[eq]:42", "a UUID was expected"),
        ("company", "createdAt[gte]:yesterday", "a date was expected eg:"),
        ("company", "nickname[eq]:x", "'nickname' is not a field of company. Accepted: id, createdAt"),
        (
            "person",
            "name[eq]:x",
            "'name' is a composite field; name one of its parts: name.firstName, name.lastName",
        ),
        (
            "person",
            "company.nickname[eq]:x",
            "'nickname' is not a field of company (reached through 'company')",
        ),
        ("company", "employees[like]:1%", "'employees' is a integer field and 'like' applies to text fields"),
        ("company", "idealCustomerProfile[gt]:true", "is a boolean field; use eq, neq, in or is"),
        ("company", "name", "'name' is not a condition. Expected field[comparator]:value"),
        ("company", 'name[eq]:"Acme', 'unterminated " quote'),
        ("company", "and(name[eq]:a", "unbalanced '('"),
        ("company", "name[in]:[]", "a non-empty array expected"),
        ("company", "name[eq]:a\x00b", "NUL"),
        ("company", "or()", "or(...) needs at least one condition"),
    ],
)
def test_invalid_filters_name_the_problem(object_name: str, text: str, message: str) -> None:
    with pytest.raises(CRMError) as info:
        parse_filter(object_name, text)
    assert message in info.value.message


def _nested(text: str, levels: int, operator: str = "not") -> str:
    for _ in range(levels):
        text = f"{operator}({text})"
    return text


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (
            ",".join(["name[eq]:a"] * (MAX_FILTER_CONDITIONS + 1)),
            f"it has {MAX_FILTER_CONDITIONS + 1} conditions",
        ),
        (
            "name[in]:[" + ",".join(["a"] * (MAX_FILTER_VALUES + 1)) + "]",
            f"'name[in]' lists {MAX_FILTER_VALUES + 1} values",
        ),
        (
            "name[containsAny]:[" + ",".join(["a"] * (MAX_FILTER_VALUES - 1)) + "],employees[in]:[1,2]",
            f"it has {MAX_FILTER_VALUES + 1} values",
        ),
        (_nested("name[eq]:a", MAX_FILTER_NESTING + 1), f"groups nest more than {MAX_FILTER_NESTING} deep"),
        ("name[in]:[" + ",".join(["a"] * 70_000) + "]", "'name[in]' lists 70000 values"),
    ],
    ids=["conditions", "one-list", "values-in-total", "nesting", "in-70000"],
)
def test_filters_beyond_the_size_limits_are_refused_naming_the_limit(text: str, what: str) -> None:
    with pytest.raises(CRMError) as info:
        parse_filter("company", text)
    assert info.value.status_code == 400 and info.value.code == "INVALID_FILTER"
    assert f"'filter' too large: {what}" in info.value.message
    assert f"at most {MAX_FILTER_CONDITIONS} conditions and {MAX_FILTER_VALUES} values" in info.value.message


def test_filters_at_the_size_limits_are_accepted() -> None:
    conditions = ",".join(["name[eq]:a"] * MAX_FILTER_CONDITIONS)
    assert parse_filter("company", _nested(f"and({conditions})", MAX_FILTER_NESTING - 1)) is not None
    assert parse_filter("company", "name[in]:[" + ",".join(["a"] * MAX_FILTER_VALUES) + "]") is not None


def test_emails_compare_lower_cased() -> None:
    assert p(parse_filter("person", "emails.primaryEmail[eq]:Ana@X.COM"))[2] == "ana@x.com"


# -- order_by, limit, depth, cursors ------------------------------------------------------------


def test_order_by_defaults_to_id_ascending() -> None:
    keys = parse_order_by("company", None)
    assert [(k.leaf.path, k.direction) for k in keys] == [("id", "AscNullsFirst")]


def test_each_order_item_has_its_own_direction_and_id_breaks_ties() -> None:
    keys = parse_order_by("person", "name.firstName[DescNullsLast],companyId,city[ASC]")
    assert [(k.leaf.path, k.direction) for k in keys] == [
        ("name.firstName", "DescNullsLast"),
        ("companyId", "AscNullsFirst"),
        ("city", "AscNullsFirst"),
        ("id", "AscNullsFirst"),
    ]


def test_desc_short_form_puts_nulls_last() -> None:
    assert parse_order_by("company", "employees[DESC]")[0].direction == "DescNullsLast"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name[Sideways]", "'Sideways' is not a direction for 'name'. Accepted: AscNullsFirst"),
        ("nickname", "'nickname' is not a field of company"),
        ("name,name[DESC]", "'name' is named twice"),
        ("name[ASC", "unbalanced '['"),
    ],
)
def test_invalid_order_by_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(CRMError, match="'order_by' invalid") as info:
        parse_order_by("company", text)
    assert message in info.value.message


def test_sorting_across_a_relation_is_refused() -> None:
    with pytest.raises(CRMError, match="crosses a relation; sort by fields of person itself"):
        parse_order_by("person", "company.name")


@pytest.mark.parametrize(
    ("given", "limit"), [(None, 60), (10, 10), ("25", 25), (0, 0), (500, 200), ("1000", 200)]
)
def test_limit_defaults_to_60_and_is_clamped_to_200(given: object, limit: int) -> None:
    assert parse_limit(given) == limit  # type: ignore[arg-type]


@pytest.mark.parametrize("given", [-1, "-1", "ten", "2.5", 2.5, True])
def test_limit_must_be_a_whole_number(given: object) -> None:
    with pytest.raises(CRMError, match="'limit' invalid: expected a whole number from 0 to 200"):
        parse_limit(given)  # type: ignore[arg-type]


@pytest.mark.parametrize("given", [2, "two", -1])
def test_depth_is_zero_or_one(given: object) -> None:
    with pytest.raises(CRMError, match=r"'depth' invalid: expected 0 .* or 1"):
        parse_list_query("company", depth=given)  # type: ignore[arg-type]


def test_cursor_round_trips_its_sort_values() -> None:
    keys = parse_order_by("company", "createdAt[DESC],employees")
    values = (datetime(2026, 1, 2, 3, 4, 5, 6000), None, "3b1f8b1e-6a8e-4e55-9d0c-1e2f3a4b5c6d")
    assert decode_cursor(encode_cursor(keys, values), keys, DEFAULT_OPTIONS, param="starting_after") == values


def test_undecodable_cursor_is_an_error() -> None:
    with pytest.raises(
        CRMError, match="'starting_after' invalid: 'not-a-cursor' is not a cursor of this list"
    ):
        parse_list_query("company", starting_after="not-a-cursor")


def test_cursor_from_another_sort_is_an_error() -> None:
    keys = parse_order_by("company", "name")
    cursor = encode_cursor(keys, ("Acme", "3b1f8b1e-6a8e-4e55-9d0c-1e2f3a4b5c6d"))
    with pytest.raises(CRMError, match=r"the cursor was made for order_by 'name\[AscNullsFirst\],id"):
        parse_list_query("company", ending_before=cursor)


def test_both_cursors_at_once_is_an_error() -> None:
    keys = parse_order_by("company", None)
    cursor = encode_cursor(keys, ("3b1f8b1e-6a8e-4e55-9d0c-1e2f3a4b5c6d",))
    with pytest.raises(CRMError, match="'starting_after' and 'ending_before' cannot be combined"):
        parse_list_query("company", starting_after=cursor, ending_before=cursor)


def test_unknown_paging_parameters_are_refused() -> None:
    with pytest.raises(CRMError, match=r"unknown list parameter\(s\): offset, page. Accepted: limit"):
        list_arguments({"limit": 5, "offset": 10, "page": 2})


def test_cursor_is_the_legacy_name_of_starting_after() -> None:
    assert list_arguments({"cursor": "abc", "limit": 5}) == {"starting_after": "abc", "limit": 5}


def test_naming_deleted_at_includes_soft_deleted_rows() -> None:
    assert parse_list_query("company", filter="deletedAt[is]:NOT_NULL").include_deleted
    assert not parse_list_query("company", filter="name[eq]:x").include_deleted


@pytest.mark.parametrize("value", [10**30, float("inf"), "12", True])
def test_cursor_values_of_the_wrong_type_or_range_are_refused(value: object) -> None:
    keys = parse_order_by("company", "employees")
    cursor = encode_cursor(keys, (value, "3b1f8b1e-6a8e-4e55-9d0c-1e2f3a4b5c6d"))
    with pytest.raises(CRMError, match="is not a cursor of this list"):
        decode_cursor(cursor, keys, DEFAULT_OPTIONS, param="starting_after")
